"""Moves audit events from NATS JetStream into the hash chain.

At-least-once all the way: a message is acknowledged only after its append
committed, a failed append is redelivered later (nak with a delay), and the
store ignores an event it already holds. A malformed message is terminated so
it never blocks the events behind it; its payload is never logged.
"""

import asyncio
import contextlib
from datetime import datetime

import asyncpg
import nats
import structlog
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, StorageType, StreamConfig
from nats.js.errors import NotFoundError
from pydantic import ValidationError

from services.audit import store
from services.audit.chain import UnstorableEvent, check_storable
from services.audit.settings import AuditSettings
from services.common.event_signing import EventVerifier, UntrustedEventError
from services.common.events import AuditEvent, subject_for

log = structlog.get_logger(__name__)

# JetStream redelivers an unacknowledged message after this long (seconds).
_ACK_WAIT = 60.0
# An append taking longer than this is abandoned and retried (well under _ACK_WAIT).
_APPEND_TIMEOUT = 20.0
# Pause after a NATS-side failure before trying again.
_NATS_RETRY_PAUSE = 1.0


def stream_config(settings: AuditSettings) -> StreamConfig:
    """The audit stream: every ``<prefix>.>`` subject, kept on disk, with de-duplication."""
    return StreamConfig(
        name=settings.audit_stream,
        subjects=[f"{settings.audit_subject_prefix}.>"],
        storage=StorageType.FILE,
        duplicate_window=settings.audit_duplicate_window_seconds,
        # Nobody removes single messages before the audit service has them.
        deny_delete=True,
        deny_purge=True,
    )


async def ensure_stream(js: JetStreamContext, settings: AuditSettings) -> None:
    """Create the audit stream, or widen an existing one to what the audit service needs."""
    wanted = stream_config(settings)
    try:
        info = await js.stream_info(settings.audit_stream)
    except NotFoundError:
        await js.add_stream(wanted)
        log.info("audit_stream_created", stream=settings.audit_stream)
        return
    config = info.config
    subjects = list(config.subjects or [])
    missing_subjects = [s for s in wanted.subjects if s not in subjects]
    window_too_short = (config.duplicate_window or 0) < wanted.duplicate_window
    if missing_subjects or window_too_short:
        # Another party created the stream (e.g. a publisher that started first);
        # keep what it set and add only what de-duplication and routing need.
        await js.update_stream(
            config.evolve(
                subjects=subjects + missing_subjects,
                duplicate_window=max(config.duplicate_window or 0, wanted.duplicate_window),
            )
        )
        log.info("audit_stream_updated", stream=settings.audit_stream)
    if config.storage != StorageType.FILE:
        log.warning("audit_stream_not_on_disk", stream=settings.audit_stream)


def consumer_config(settings: AuditSettings) -> ConsumerConfig:
    return ConsumerConfig(
        durable_name=settings.audit_consumer,
        # A new consumer starts at the first message, so events published
        # before the audit service ever ran are stored too.
        deliver_policy=DeliverPolicy.ALL,
        ack_policy=AckPolicy.EXPLICIT,
        ack_wait=_ACK_WAIT,
        # Never give up on an event: a failing database only delays it.
        max_deliver=-1,
    )


class MisattributedEvent(ValueError):
    """Raised when an event names another service than its signer, or travels
    on another subject than its own."""


def _describe_invalid(problem: ValueError) -> dict:
    """What went wrong with a message, without any of its content."""
    if isinstance(problem, ValidationError):
        # errors() entries carry the offending input and field names taken
        # from the payload; keep only the error kinds.
        kinds = sorted({error["type"] for error in problem.errors(include_input=False)})
        return {"error_count": problem.error_count(), "error_kinds": kinds}
    if isinstance(problem, UnstorableEvent | MisattributedEvent):
        return {"error_kinds": [str(problem)]}
    return {"error_kinds": [type(problem).__name__]}


def _stream_sequence(msg: Msg) -> int | None:
    with contextlib.suppress(Exception):
        return msg.metadata.sequence.stream
    return None


def _stored_at(msg: Msg) -> datetime:
    """When JetStream stored the message: the latest moment it can have been
    signed, vouched for by the server rather than by the publisher."""
    try:
        return msg.metadata.timestamp
    except Exception:
        # Not a JetStream delivery: there is no trustworthy time to check against.
        raise UntrustedEventError from None


class AuditConsumer:
    """A durable pull consumer feeding ``store.append`` until stopped."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        settings: AuditSettings,
        *,
        verifier: EventVerifier,
        batch: int = 50,
        fetch_timeout: float = 5.0,
    ):
        self._pool = pool
        self._settings = settings
        self._verifier = verifier
        self._batch = batch
        self._fetch_timeout = fetch_timeout
        self._nc: nats.NATS | None = None
        self._js: JetStreamContext | None = None
        self._sub: JetStreamContext.PullSubscription | None = None
        self._task: asyncio.Task | None = None
        self._stopping = asyncio.Event()
        self._fetching = False
        # Set after a reconnect: stream and consumer are ensured again.
        self._resubscribe = False

    async def start(self) -> None:
        """Connect, make sure stream and consumer exist, and start consuming.

        Raises if NATS cannot be reached now, so a misconfiguration shows at start-up.
        """
        self._nc = await nats.connect(
            self._settings.nats_url,
            name="audit-consumer",
            connect_timeout=2,
            reconnect_time_wait=1,
            max_reconnect_attempts=-1,
            error_cb=self._on_error,
            disconnected_cb=self._on_disconnected,
            reconnected_cb=self._on_reconnected,
        )
        self._js = self._nc.jetstream()
        try:
            await self._subscribe()
        except BaseException:
            await self._nc.close()
            raise
        self._task = asyncio.create_task(self._run(), name="audit-consumer")

    async def stop(self) -> None:
        """Finish the message in hand, then disconnect; unhandled messages are redelivered."""
        self._stopping.set()
        if self._task is not None:
            if self._fetching:
                # Nothing is in hand while waiting for messages; a message
                # delivered to the cancelled fetch is redelivered after _ACK_WAIT.
                self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._nc is not None and not self._nc.is_closed:
            await self._nc.close()

    async def _subscribe(self) -> None:
        settings = self._settings
        self._resubscribe = False
        try:
            await ensure_stream(self._js, settings)
            previous, self._sub = self._sub, None
            if previous is not None:
                with contextlib.suppress(Exception):
                    await previous.unsubscribe()
            # Binds to the durable consumer, creating it on first use.
            self._sub = await self._js.pull_subscribe(
                f"{settings.audit_subject_prefix}.>",
                durable=settings.audit_consumer,
                stream=settings.audit_stream,
                config=consumer_config(settings),
            )
        except BaseException:
            self._resubscribe = True
            raise

    async def _run(self) -> None:
        while not self._stopping.is_set():
            if self._sub is None or self._resubscribe:
                try:
                    await self._subscribe()
                except Exception as failure:
                    log.warning("audit_subscribe_failed", error=type(failure).__name__)
                    await self._pause(_NATS_RETRY_PAUSE)
                    continue
            try:
                self._fetching = True
                messages = await self._sub.fetch(self._batch, timeout=self._fetch_timeout)
            except TimeoutError:
                # Nothing to do (nats' timeout errors are TimeoutErrors), or the
                # connection is being re-established.
                continue
            except Exception as failure:
                log.warning("audit_fetch_failed", error=type(failure).__name__)
                await self._pause(_NATS_RETRY_PAUSE)
                continue
            finally:
                self._fetching = False
            for msg in messages:
                if self._stopping.is_set():
                    # Hand the rest back at once rather than after _ACK_WAIT.
                    await self._settle(msg, "nak", msg.nak)
                    continue
                await self._handle_without_stopping(msg)

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    async def _handle_without_stopping(self, msg: Msg) -> None:
        """``handle``, but a failure we did not foresee ends only this delivery.

        The event is kept (offered again after the retry delay) rather than
        lost, and the loop goes on with the next message: one message must
        never stop the audit trail.
        """
        try:
            await self.handle(msg)
        except Exception as failure:
            log.error(
                "audit_event_handling_failed",
                nats_subject=msg.subject,
                stream_sequence=_stream_sequence(msg),
                exc_info=failure,
            )
            await self._settle(msg, "nak", msg.nak, delay=self._settings.audit_retry_delay_seconds)

    async def handle(self, msg: Msg) -> None:
        """Store one message's event, then settle the message with JetStream."""
        # Verify before interpreting: who signed these exact bytes?
        try:
            signer = self._verifier.signer_of(msg.data, msg.headers, signed_at=_stored_at(msg))
        except UntrustedEventError:
            log.warning(
                "audit_event_untrusted",
                nats_subject=msg.subject,
                stream_sequence=_stream_sequence(msg),
            )
            await self._settle(msg, "term", msg.term)
            return
        try:
            event = AuditEvent.from_unverified_json(msg.data)
            check_storable(event)
            if event.service != signer or msg.subject != subject_for(
                self._settings.audit_subject_prefix, event
            ):
                # A service may speak only for itself, on its own subject.
                raise MisattributedEvent("event does not match its signer or subject")
        except ValueError as problem:  # ValidationError and UnstorableEvent are ValueErrors
            log.warning(
                "audit_event_malformed",
                nats_subject=msg.subject,
                stream_sequence=_stream_sequence(msg),
                **_describe_invalid(problem),
            )
            await self._settle(msg, "term", msg.term)
            return
        try:
            async with asyncio.timeout(_APPEND_TIMEOUT), self._pool.acquire() as conn:
                record = await store.append(conn, event)
        except Exception as failure:
            # Database unavailable or failing: JetStream keeps the message and
            # offers it again after the delay. The error text may quote
            # values, so only its type is logged.
            log.warning(
                "audit_append_failed",
                event_id=str(event.event_id),
                error=type(failure).__name__,
            )
            await self._settle(msg, "nak", msg.nak, delay=self._settings.audit_retry_delay_seconds)
            return
        # Acknowledge only now that the append has committed. If this ack is
        # lost, the redelivered message is recognised as a duplicate.
        await self._settle(msg, "ack", msg.ack)
        if record is None:
            log.info("audit_event_duplicate", event_id=str(event.event_id))
        else:
            log.debug("audit_event_stored", event_id=str(event.event_id), sequence=record.sequence)

    async def _settle(self, msg: Msg, verb: str, action, **kwargs) -> None:
        try:
            await action(**kwargs)
        except Exception as failure:
            # Connection lost: JetStream redelivers after _ACK_WAIT, and the
            # store's duplicate check makes that harmless.
            log.warning("audit_settle_failed", verb=verb, error=type(failure).__name__)

    async def _on_error(self, failure: Exception) -> None:
        log.warning("nats_error", error=type(failure).__name__)

    async def _on_disconnected(self) -> None:
        if not self._stopping.is_set():  # closing on stop also disconnects
            log.warning("nats_disconnected")

    async def _on_reconnected(self) -> None:
        # The server may have restarted without its state: re-create stream
        # and consumer (both idempotent) before the next fetch.
        log.info("nats_reconnected")
        self._resubscribe = True
