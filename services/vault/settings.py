"""The vault's settings: the platform's, plus where its keyring lives."""

from pathlib import Path

from pydantic import Field

from services.common.settings import PlatformSettings


class VaultSettings(PlatformSettings):
    # JSON keyring of KEKs (mode 0600, see common/key_files.py); env AECARO_VAULT_KEYRING_FILE.
    vault_keyring_file: Path = Path(".state/vault/keyring.json")
    # Keys one owner may hold: bounds what one account stores, and what
    # listing its keys sends back; env AECARO_VAULT_MAX_KEYS_PER_OWNER.
    vault_max_keys_per_owner: int = Field(default=100, ge=1, le=10_000)
