"""`python -m services.executor`: the executor, configured from AECARO_* variables."""

import asyncio

from services.common.logs import configure_logging
from services.common.runtime import wait_for_stop_signal
from services.executor.service import start
from services.executor.settings import ExecutorSettings


async def main(settings: ExecutorSettings) -> None:
    svc = await start(settings)
    try:
        await wait_for_stop_signal()
    finally:
        await svc.stop()


if __name__ == "__main__":
    settings = ExecutorSettings()
    configure_logging("executor", settings.log_level)
    asyncio.run(main(settings))
