"""Rate limits on the routes that guess-and-check secrets (log-in, sign-up,
token refresh), with the `limits` library.

Three counters:
- every request to /v1/auth/* per client address, whatever the route;
- log-in attempts per account *and* client address, counted before the
  password is checked (so guesses sent at the same instant cannot all slip
  through) and cleared by a successful log-in from that address: a client
  guessing one account's password is stopped quickly, while the owner logging
  in from elsewhere is not;
- failed log-ins per account from every address together, much looser: it
  bounds guessing spread over many addresses. Each address counts there for
  at most a tenth of the limit (``ACCOUNT_SHARE_OF_ONE_CLIENT``), so closing
  an account to its owner takes guesses from ten addresses at least, not one.

A correct password is never refused because of someone else's guesses below
the account-wide limit. Counters live in memory for a single gateway, or in
Redis (``async+redis://host:6379``) when several gateways share the load.
Account identifiers are hashed before they are used as keys, so the counter
store never holds an email address.
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


# One client address counts for at most this part of an account's limit.
ACCOUNT_SHARE_OF_ONE_CLIENT = 10


def _share_of(item: RateLimitItem) -> RateLimitItem:
    """The part of ``item`` one client may use: a tenth of its amount, same window."""
    return type(item)(max(1, item.amount // ACCOUNT_SHARE_OF_ONE_CLIENT), item.multiples)


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
        self._client_share = _share_of(limits.login_failures_per_account)

    async def _seconds_until_room(self, item: RateLimitItem, *identifiers: str) -> int:
        stats = await self._limiter.get_window_stats(item, *identifiers)
        return int(stats.reset_time - time.time())

    async def check_client(self, request: Request) -> None:
        """Count this /v1/auth request against its client address; 429 beyond."""
        identifiers = (_AUTH_ROUTES, "client", client_address(request))
        if not await self._limiter.hit(self._limits.per_client, *identifiers):
            raise _too_many(await self._seconds_until_room(self._limits.per_client, *identifiers))

    def _login_keys(self, account: str, request: Request) -> tuple[str, str]:
        return _account_key(account), client_address(request)

    async def begin_login(self, account: str, request: Request) -> None:
        """Count a log-in attempt on ``account`` from this client; 429 when this
        client, or everyone together, failed too often on it."""
        account_key, client = self._login_keys(account, request)
        whole_account = self._limits.login_failures_per_account
        if not await self._limiter.test(whole_account, "login", account_key):
            raise _too_many(await self._seconds_until_room(whole_account, "login", account_key))
        this_client = self._limits.login_failures_per_account_and_client
        if not await self._limiter.hit(this_client, "login", account_key, client):
            raise _too_many(
                await self._seconds_until_room(this_client, "login", account_key, client)
            )

    async def login_succeeded(self, account: str, request: Request) -> None:
        """The client knew the password: its attempts on ``account`` start again from zero."""
        account_key, client = self._login_keys(account, request)
        await self._limiter.clear(
            self._limits.login_failures_per_account_and_client, "login", account_key, client
        )

    async def count_login_failure(self, account: str, request: Request) -> None:
        """Count a wrong password against the account as a whole, within this
        client's share of that limit."""
        account_key, client = self._login_keys(account, request)
        if await self._limiter.hit(self._client_share, "login-share", account_key, client):
            await self._limiter.hit(self._limits.login_failures_per_account, "login", account_key)


async def limit_by_client(request: Request) -> None:
    """FastAPI dependency: count this request against its client address."""
    limiter: RateLimiter = request.app.state.rate_limiter
    await limiter.check_client(request)
