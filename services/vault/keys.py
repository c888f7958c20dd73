"""The vault's business: store, list, show and decrypt a customer's API keys.

Each secret is sealed with associated data naming its owner and key id, so the
database can be read or rows shuffled without revealing or misattributing a
secret. Storing and decrypting each write an audit event through the outbox in
the same transaction: a decrypted secret is handed out only once the record
of its release is committed.
"""

import struct
import uuid
from collections.abc import Callable

import asyncpg
import structlog

from services.common.events import new_event
from services.common.outbox import enqueue
from services.vault import storage, validation
from services.vault.envelope import open_sealed, seal
from services.vault.keyring import Keyring
from services.vault.plaintext import Plaintext
from services.vault.storage import KeyRecord

log = structlog.get_logger(__name__)

SERVICE = "vault"
_KEY_CONTEXT = b"aecaro.vault.key.v1\x00"


class KeyNotFound(LookupError):
    """No such key for this owner (also when it exists but is someone else's)."""

    def __init__(self):
        super().__init__("key not found")


def key_binding(owner_id: str, key_id: uuid.UUID) -> bytes:
    """Associated data tying a sealed secret to its owner and key id.

    Length-prefixed, so no two (owner, key) pairs give the same bytes.
    """
    owner = owner_id.encode("utf-8")
    return _KEY_CONTEXT + struct.pack(">I", len(owner)) + owner + key_id.bytes


class TooManyKeys(Exception):
    """Raised when the owner already holds as many keys as allowed."""

    def __init__(self, limit: int):
        super().__init__(f"an account holds at most {limit} keys")
        self.limit = limit


class KeyService:
    def __init__(
        self,
        pool: asyncpg.Pool,
        keyring: Keyring,
        *,
        subject_prefix: str,
        events_committed: Callable[[], None],
        max_keys_per_owner: int,
    ):
        self._pool = pool
        self._max_keys_per_owner = max_keys_per_owner
        self._keyring = keyring
        self._subject_prefix = subject_prefix
        # Called after a commit that enqueued events (the outbox relay's wake).
        self._events_committed = events_committed

    async def store(self, *, owner_id: str, provider: str, label: str, secret: str) -> KeyRecord:
        owner_id = validation.owner_id(owner_id)
        provider = validation.provider(provider)
        label = validation.label(label)
        secret = validation.secret(secret)
        key_id = uuid.uuid4()
        sealed = seal(
            secret.encode("utf-8"), keyring=self._keyring, aad=key_binding(owner_id, key_id)
        )
        event = new_event(
            type="key.stored",
            service=SERVICE,
            actor_id=owner_id,
            subject_id=owner_id,
            data={"key_id": str(key_id), "provider": provider, "label": label},
        )
        async with self._pool.acquire() as conn, conn.transaction():
            # Counted under a lock on the owner, so concurrent stores cannot
            # both take the last place.
            if await storage.lock_and_count_keys(conn, owner_id) >= self._max_keys_per_owner:
                raise TooManyKeys(self._max_keys_per_owner)
            record = await storage.insert_key(
                conn,
                key_id=key_id,
                owner_id=owner_id,
                provider=provider,
                label=label,
                last_four=secret[-4:],
                sealed=sealed,
            )
            await enqueue(conn, event, subject_prefix=self._subject_prefix)
        self._events_committed()
        log.info("key_stored", key_id=str(key_id), owner_id=owner_id, provider=provider)
        return record

    async def list(self, *, owner_id: str) -> list[KeyRecord]:
        owner_id = validation.owner_id(owner_id)
        async with self._pool.acquire() as conn:
            return await storage.list_keys(conn, owner_id)

    async def get(self, *, owner_id: str, key_id: str) -> KeyRecord:
        owner_id = validation.owner_id(owner_id)
        parsed = validation.key_id(key_id)
        if parsed is None:
            raise KeyNotFound()
        async with self._pool.acquire() as conn:
            record = await storage.get_key(conn, owner_id, parsed)
        if record is None:
            raise KeyNotFound()
        return record

    async def decrypt(self, *, owner_id: str, key_id: str, run_id: str, caller: str) -> Plaintext:
        """The owner's secret for ``run_id``; raises KeyNotFound or SealedSecretError.

        The audit event is committed before this returns; if the commit fails,
        the secret is not returned.
        """
        owner_id = validation.owner_id(owner_id)
        run_id = validation.run_id(run_id)
        parsed = validation.key_id(key_id)
        if parsed is None:
            raise KeyNotFound()
        event = new_event(
            type="key.decrypted",
            service=SERVICE,
            actor_id=caller,
            subject_id=owner_id,
            data={"key_id": str(parsed), "run_id": run_id, "caller": caller},
        )
        async with self._pool.acquire() as conn, conn.transaction():
            sealed = await storage.get_sealed(conn, owner_id, parsed)
            if sealed is None:
                raise KeyNotFound()
            # Opened before the event is enqueued, so a secret that fails to
            # open is not recorded as released.
            plaintext = Plaintext(
                open_sealed(sealed, keyring=self._keyring, aad=key_binding(owner_id, parsed))
            )
            await enqueue(conn, event, subject_prefix=self._subject_prefix)
        self._events_committed()
        log.info("key_decrypted", key_id=str(parsed), owner_id=owner_id, run_id=run_id)
        return plaintext
