"""`python -m services.vault`: the vault, configured from AECARO_* variables."""

from services.common.runtime import run_service
from services.vault.service import start
from services.vault.settings import VaultSettings

if __name__ == "__main__":
    run_service("vault", VaultSettings(), start)
