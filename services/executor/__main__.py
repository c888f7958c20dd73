"""`python -m services.executor`: the executor, configured from AECARO_* variables."""

from services.common.runtime import run_service
from services.executor.service import start
from services.executor.settings import ExecutorSettings

if __name__ == "__main__":
    run_service("executor", ExecutorSettings(), start)
