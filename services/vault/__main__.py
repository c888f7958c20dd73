"""`python -m services.vault`: the vault, configured from AECARO_* variables."""

import asyncio

from services.common.logs import configure_logging
from services.common.runtime import wait_for_stop_signal
from services.vault.service import start
from services.vault.settings import VaultSettings


async def main(settings: VaultSettings) -> None:
    svc = await start(settings)
    try:
        await wait_for_stop_signal()
    finally:
        await svc.stop()


if __name__ == "__main__":
    settings = VaultSettings()
    configure_logging("vault", settings.log_level)
    asyncio.run(main(settings))
