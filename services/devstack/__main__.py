"""`python -m services.devstack` (what `make run` calls): the platform on one machine."""

import asyncio
import os
import signal
import sys
from pathlib import Path

import structlog

from services.common.logs import configure_logging
from services.devstack.backing import BackingServiceError
from services.devstack.stack import Stack, StartFailed

log = structlog.get_logger("services.devstack")


async def main() -> int:
    stack = Stack(
        Path(os.environ.get("AECARO_STATE_DIR", ".state")),
        gateway_port=int(os.environ.get("AECARO_GATEWAY_PORT", "8443")),
        nats_port=int(os.environ.get("AECARO_DEV_NATS_PORT", "14222")),
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        try:
            await stack.start()
        except (StartFailed, BackingServiceError, TimeoutError) as failure:
            log.error("start_failed", reason=str(failure))
            print(f"AECARO could not start: {failure}", file=sys.stderr, flush=True)
            return 1
        print(
            f"AECARO is up: {stack.gateway_url}  (CA: {stack.state_dir / 'pki' / 'ca.pem'})",
            flush=True,
        )
        while not stop.is_set():
            exited = stack.first_exited()
            if exited:
                log.error("service_exited", name=exited)
                return 1
            try:
                await asyncio.wait_for(stop.wait(), timeout=1)
            except TimeoutError:
                pass
        return 0
    finally:
        await asyncio.to_thread(stack.stop)
        print("AECARO stopped.", flush=True)


if __name__ == "__main__":
    configure_logging("devstack", os.environ.get("AECARO_LOG_LEVEL", "INFO"))
    raise SystemExit(asyncio.run(main()))
