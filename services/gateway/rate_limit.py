"""Rate limits on the routes that guess-and-check secrets (log-in, sign-up,
token refresh), with the `limits` library.

Three counters:
- every request to /v1/auth/* per client address, whatever the route;
- failed log-ins per account *and* client address: a client guessing one
  account's password is stopped quickly, while the owner logging in from
  elsewhere is not (a limit on all attempts per account would let anyone lock
  any account out by guessing wrong ten times a minute);
- failed log-ins per account from every address together, much looser: it
  bounds guessing spread over many addresses. An attacker with that many
  addresses can still make the owner wait; that is the price of the bound.

Only failures are counted against an account, so a correct password is never
refused because of someone else's guesses below those limits. Counters live in
memory for a single gateway, or in Redis (``async+redis://host:6379``) when
several gateways share the load. Account identifiers are hashed before they
are used as keys, so the counter store never holds an email address.
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

# One counter for every /v1/auth route, so that each route is no fresh allowance.
_AUTH_ROUTES = "auth"


@dataclass(frozen=True)
class RateLimits:
    per_client: RateLimitItem
    login_failures_per_account_and_client: RateLimitItem
    login_failures_per_account: RateLimitItem

    @classmethod
    def parse(
        cls,
        *,
        per_client: str,
        login_failures_per_account_and_client: str,
        login_failures_per_account: str,
    ) -> "RateLimits":
        """Each limit in the `limits` library's notation, e.g. "10/minute"."""
        return cls(
            per_client=parse(per_client),
            login_failures_per_account_and_client=parse(login_failures_per_account_and_client),
            login_failures_per_account=parse(login_failures_per_account),
        )


def client_address(request: Request) -> str:
    # The TCP peer: the gateway is the public entry point and trusts no
    # X-Forwarded-For header (a client could write any address there).
    return request.client.host if request.client else "unknown"


def _account_key(account: str) -> str:
    """The hashed spelling identity stores ``account`` by, so that writing it
    another way gives no fresh counter."""
    try:
        account = normalize_email(account)
    except InvalidEmailError:
        account = account.strip().lower()  # no such account; counted all the same
    return hashlib.sha256(account.encode("utf-8", errors="surrogatepass")).hexdigest()


def _too_many(retry_after: int) -> ApiError:
    return ApiError(
        429,
        "too_many_requests",
        "too many attempts; try again later",
        headers={"Retry-After": str(max(1, retry_after))},
    )


class RateLimiter:
    def __init__(self, storage_url: str, limits: RateLimits):
        if not storage_url.startswith("async+"):
            raise ValueError("rate limit storage must be an async+ URL of the limits library")
        self._limiter = MovingWindowRateLimiter(storage_from_string(storage_url))
        self._limits = limits

    async def _seconds_until_room(self, item: RateLimitItem, *identifiers: str) -> int:
        stats = await self._limiter.get_window_stats(item, *identifiers)
        return int(stats.reset_time - time.time())

    async def check_client(self, request: Request) -> None:
        """Count this /v1/auth request against its client address; 429 beyond."""
        identifiers = (_AUTH_ROUTES, "client", client_address(request))
        if not await self._limiter.hit(self._limits.per_client, *identifiers):
            raise _too_many(await self._seconds_until_room(self._limits.per_client, *identifiers))

    def _login_counters(self, account: str, client: str):
        account_key = _account_key(account)
        return (
            (self._limits.login_failures_per_account_and_client, ("login", account_key, client)),
            (self._limits.login_failures_per_account, ("login", account_key)),
        )

    async def check_login_allowed(self, account: str, request: Request) -> None:
        """429 if this client, or everyone together, failed too often on ``account``.

        Counts nothing: only a failure does (``count_login_failure``). Guesses
        sent at the same instant may each pass this check before any is
        counted; the per-client limit bounds how many that can be.
        """
        for item, identifiers in self._login_counters(account, client_address(request)):
            if not await self._limiter.test(item, *identifiers):
                raise _too_many(await self._seconds_until_room(item, *identifiers))

    async def count_login_failure(self, account: str, request: Request) -> None:
        for item, identifiers in self._login_counters(account, client_address(request)):
            await self._limiter.hit(item, *identifiers)


async def limit_by_client(request: Request) -> None:
    """FastAPI dependency: count this request against its client address."""
    limiter: RateLimiter = request.app.state.rate_limiter
    await limiter.check_client(request)
