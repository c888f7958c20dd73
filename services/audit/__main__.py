"""`python -m services.audit`: run the audit service until SIGINT or SIGTERM."""

from services.audit.service import start
from services.audit.settings import AuditSettings
from services.common.runtime import run_service

if __name__ == "__main__":
    run_service("audit", AuditSettings(), start)
