"""The transactional outbox: audit events are kept until JetStream has them.

A service writes an event with ``enqueue`` inside the same database
transaction as the change it describes. ``OutboxRelay`` publishes pending rows
and deletes each one only after JetStream acknowledged it, so a NATS outage
delays events but never loses them. The event id is the JetStream message id,
so a row published twice (a crash between ack and delete) is stored once.
Every message carries its service's signature (services.common.event_signing).
"""

import asyncio
import contextlib

import asyncpg
import nats
import structlog
from nats.js.errors import NoStreamResponseError

from services.common.event_signing import EventSigner
from services.common.events import AuditEvent, subject_for

log = structlog.get_logger(__name__)

_BATCH = 100


async def enqueue(conn: asyncpg.Connection, event: AuditEvent, *, subject_prefix: str) -> None:
    """Record ``event`` for publishing; call inside the caller's transaction."""
    await conn.execute(
        "INSERT INTO outbox (event_id, subject, payload) VALUES ($1, $2, $3)",
        event.event_id,
        subject_for(subject_prefix, event),
        event.to_json(),
    )


class OutboxRelay:
    """Publishes outbox rows to JetStream, oldest first, until stopped."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        nats_url: str,
        *,
        signer: EventSigner,
        idle_seconds: float = 1.0,
    ):
        self._pool = pool
        self._nats_url = nats_url
        self._signer = signer
        self._idle_seconds = idle_seconds
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._nc: nats.NATS | None = None

    def wake(self) -> None:
        """Ask for a publish pass now rather than at the next idle tick."""
        self._wake.set()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="outbox-relay")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._nc and not self._nc.is_closed:
            await self._nc.close()

    async def _run(self) -> None:
        while True:
            try:
                await self.publish_pending()
            except asyncio.CancelledError:
                raise
            except Exception:
                # NATS or PostgreSQL unavailable: rows stay in the outbox and the
                # next pass tries again.
                log.warning("outbox_publish_failed", exc_info=True)
            # asyncio.timeout rather than wait_for: on Python 3.11 wait_for can
            # swallow a cancellation that races with the wake-up, and stop()
            # would then wait forever.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._idle_seconds):
                    await self._wake.wait()
            self._wake.clear()

    async def _jetstream(self):
        if self._nc is None or self._nc.is_closed:
            # Bounded, so a pass never hangs on a NATS that is away; the next
            # pass tries again. Once connected, the client reconnects by itself.
            self._nc = await asyncio.wait_for(
                nats.connect(self._nats_url, connect_timeout=2, max_reconnect_attempts=-1),
                timeout=10,
            )
        return self._nc.jetstream()

    async def publish_pending(self) -> int:
        """Publish what is pending now; returns how many events went out."""
        published = 0
        if not await self._pool.fetchval("SELECT EXISTS (SELECT 1 FROM outbox)"):
            return published
        # Connect before taking row locks: no transaction waits on the network
        # for anything but a publish, which has its own timeout.
        js = await self._jetstream()
        while True:
            async with self._pool.acquire() as conn, conn.transaction():
                rows = await conn.fetch(
                    "SELECT event_id, subject, payload FROM outbox"
                    " ORDER BY created_at, event_id LIMIT $1 FOR UPDATE SKIP LOCKED",
                    _BATCH,
                )
                if not rows:
                    return published
                for row in rows:
                    payload = bytes(row["payload"])
                    headers = {
                        "Nats-Msg-Id": str(row["event_id"]),
                        **self._signer.headers_for(payload),
                    }
                    try:
                        await js.publish(row["subject"], payload, headers=headers, timeout=5)
                    except NoStreamResponseError:
                        # The audit service has not created the stream yet.
                        await conn.execute(
                            "UPDATE outbox SET attempts = attempts + 1 WHERE event_id = $1",
                            row["event_id"],
                        )
                        log.warning("outbox_stream_missing", subject=row["subject"])
                        return published
                    await conn.execute("DELETE FROM outbox WHERE event_id = $1", row["event_id"])
                    published += 1
