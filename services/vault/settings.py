"""The vault's settings: the platform's, plus where its keyring lives."""

from pathlib import Path

from services.common.settings import PlatformSettings


class VaultSettings(PlatformSettings):
    # JSON keyring of KEKs (mode 0600); env AECARO_VAULT_KEYRING_FILE.
    vault_keyring_file: Path = Path(".state/vault/keyring.json")
