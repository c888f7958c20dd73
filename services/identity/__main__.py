"""`python -m services.identity`: run the identity service."""

from services.common.runtime import run_service
from services.identity.service import IdentitySettings, start

if __name__ == "__main__":
    run_service("identity", IdentitySettings(), start)
