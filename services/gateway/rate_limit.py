"""Rate limits on the routes that guess-and-check secrets (log-in, sign-up,
token refresh), per client address and per account, with the `limits` library.

Counters live in memory for a single gateway, or in Redis
(``async+redis://host:6379``) when several gateways share the load. Account
identifiers are hashed before they are used as keys, so the counter store
never holds an email address.
"""

import hashlib
import time
from dataclasses import dataclass

from fastapi import Request
from limits import RateLimitItem, parse
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string

from services.common.emails import InvalidEmailError, normalize_email
from services.gateway.errors import ApiError


@dataclass(frozen=True)
class RateLimits:
    per_client: RateLimitItem
    per_account: RateLimitItem

    @classmethod
    def parse(cls, *, per_client: str, per_account: str) -> "RateLimits":
        return cls(per_client=parse(per_client), per_account=parse(per_account))


class RateLimiter:
    def __init__(self, storage_url: str, limits: RateLimits):
        if not storage_url.startswith("async+"):
            raise ValueError("rate limit storage must be an async+ URL of the limits library")
        self._limiter = MovingWindowRateLimiter(storage_from_string(storage_url))
        self._limits = limits

    async def _hit(self, item: RateLimitItem, *identifiers: str) -> None:
        if await self._limiter.hit(item, *identifiers):
            return
        stats = await self._limiter.get_window_stats(item, *identifiers)
        retry_after = max(1, int(stats.reset_time - time.time()))
        raise ApiError(
            429,
            "too_many_requests",
            "too many attempts; try again later",
            headers={"Retry-After": str(retry_after)},
        )

    async def check_client(self, route: str, request: Request) -> None:
        client = request.client.host if request.client else "unknown"
        await self._hit(self._limits.per_client, route, "client", client)

    async def check_account(self, route: str, account: str) -> None:
        """Count an attempt on ``account`` (an email), under the spelling identity
        stores it by, so that writing it another way gives no fresh counter."""
        try:
            account = normalize_email(account)
        except InvalidEmailError:
            account = account.strip().lower()  # no such account; counted all the same
        digest = hashlib.sha256(account.encode("utf-8")).hexdigest()
        await self._hit(self._limits.per_account, route, "account", digest)


async def limit_by_client(request: Request) -> None:
    """FastAPI dependency: count this request against its client address."""
    limiter: RateLimiter = request.app.state.rate_limiter
    await limiter.check_client(request.url.path, request)
