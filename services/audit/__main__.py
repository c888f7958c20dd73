"""``python -m services.audit``: run the audit service until SIGINT or SIGTERM."""

import asyncio

from services.audit.service import start
from services.audit.settings import AuditSettings
from services.common.logs import configure_logging
from services.common.runtime import wait_for_stop_signal


async def main(settings: AuditSettings) -> None:
    svc = await start(settings)
    try:
        await wait_for_stop_signal()
    finally:
        await svc.stop()


if __name__ == "__main__":
    settings = AuditSettings()
    configure_logging("audit", settings.log_level)
    asyncio.run(main(settings))
