"""Waiting on a condition with a deadline, instead of sleeping and hoping."""

import asyncio
import time


async def wait_until(condition, *, timeout: float, interval: float = 0.05, what: str = "condition"):
    """Poll the async ``condition`` until it returns a truthy value; return that value.

    Raises TimeoutError naming ``what`` once ``timeout`` seconds have passed.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = await condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(interval)
