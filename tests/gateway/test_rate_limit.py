"""The rate limiter on Redis (the shared store of several gateways)."""

import asyncio
import secrets

import pytest
from starlette.requests import Request

from services.gateway.errors import ApiError
from services.gateway.rate_limit import RateLimiter, RateLimits

REDIS = "async+redis://127.0.0.1:6379"


def _request(host: str) -> Request:
    return Request({"type": "http", "client": (host, 50000), "headers": [], "path": "/"})


def _limits(**changes: str) -> RateLimits:
    values = {
        "per_client": "3/minute",
        "login_failures_per_account_and_client": "2/minute",
        "login_failures_per_account": "5/minute",
        **changes,
    }
    return RateLimits.parse(**values)


@pytest.fixture
def limiter():
    return RateLimiter(REDIS, _limits())


def an_account() -> str:
    """An address of its own per test: the Redis counters outlive a test run."""
    return f"ada-{secrets.token_hex(4)}@example.com"


def a_client() -> str:
    return f"10.{secrets.randbelow(256)}.{secrets.randbelow(256)}.{secrets.randbelow(256)}"


async def fail_logins(limiter, account: str, client: str, times: int) -> None:
    for _ in range(times):
        await limiter.begin_login(account, _request(client))
        await limiter.count_login_failure(account, _request(client))


async def test_each_client_has_its_own_allowance(limiter):
    client, other = a_client(), a_client()
    for _ in range(3):
        await limiter.check_client(_request(client))
    with pytest.raises(ApiError) as refused:
        await limiter.check_client(_request(client))
    assert (refused.value.status, refused.value.code) == (429, "too_many_requests")
    assert int(refused.value.headers["Retry-After"]) >= 1
    await limiter.check_client(_request(other))


async def test_attempts_sent_together_cannot_slip_past_the_client_limit(limiter):
    account, client = an_account(), a_client()
    outcomes = await asyncio.gather(
        *(limiter.begin_login(account, _request(client)) for _ in range(10)),
        return_exceptions=True,
    )
    assert outcomes.count(None) == 2
    assert {type(outcome) for outcome in outcomes if outcome is not None} == {ApiError}


async def test_a_successful_log_in_gives_its_client_a_fresh_allowance(limiter):
    account, client = an_account(), a_client()
    await fail_logins(limiter, account, client, 1)
    await limiter.begin_login(account, _request(client))
    await limiter.login_succeeded(account, _request(client))
    await limiter.begin_login(account, _request(client))
    await limiter.begin_login(account, _request(client))


async def test_one_client_alone_cannot_close_an_account_to_everyone(limiter):
    # The account-wide limit is 5/minute; a client counts there at most once
    # (a tenth, rounded up to 1), however often it fails.
    account, guesser = an_account(), a_client()
    for _ in range(3):
        await fail_logins(limiter, account, guesser, 2)
        # Stands for the minutes a real guesser waits for its allowance to return.
        await limiter.login_succeeded(account, _request(guesser))
    await limiter.begin_login(account, _request(a_client()))


async def test_a_client_that_failed_too_often_is_refused_on_that_account_only(limiter):
    account, client = an_account(), a_client()
    await fail_logins(limiter, account, client, 2)
    with pytest.raises(ApiError) as refused:
        await limiter.begin_login(account, _request(client))
    assert refused.value.status == 429
    assert int(refused.value.headers["Retry-After"]) >= 1
    # The owner, from elsewhere, is not locked out; the guesser may try other accounts.
    await limiter.begin_login(account, _request(a_client()))
    await limiter.begin_login(an_account(), _request(client))


async def test_failures_from_many_clients_together_close_the_account_for_a_while(limiter):
    account = an_account()
    for _ in range(5):
        await fail_logins(limiter, account, a_client(), 1)
    with pytest.raises(ApiError) as refused:
        await limiter.begin_login(account, _request(a_client()))
    assert refused.value.status == 429


async def test_accounts_are_counted_whatever_their_case(limiter):
    local = f"ada-{secrets.token_hex(4)}"
    client = a_client()
    await fail_logins(limiter, f"{local.upper()}@Example.com", client, 1)
    await fail_logins(limiter, f"{local}@example.com ", client, 1)
    with pytest.raises(ApiError):
        await limiter.begin_login(f"{local}@EXAMPLE.COM", _request(client))


async def test_look_alike_spellings_of_an_account_share_its_counter(limiter):
    local = f"ada{secrets.token_hex(4)}"
    client = a_client()
    await fail_logins(limiter, f"{local}@example.com", client, 1)
    await fail_logins(limiter, f"{local}@ｅxample.com", client, 1)  # full-width e
    with pytest.raises(ApiError):
        await limiter.begin_login(f"{local}@ｅｘａｍｐｌｅ.com", _request(client))


async def test_text_that_is_no_email_is_still_counted(limiter):
    text = f"not an email {secrets.token_hex(4)}"
    client = a_client()
    await fail_logins(limiter, text, client, 1)
    await fail_logins(limiter, text.upper() + " ", client, 1)
    with pytest.raises(ApiError):
        await limiter.begin_login(text, _request(client))


def test_a_synchronous_storage_url_is_a_configuration_error():
    with pytest.raises(ValueError, match="async"):
        RateLimiter("memory://", _limits())


def test_a_malformed_limit_is_a_configuration_error():
    with pytest.raises(ValueError):
        _limits(login_failures_per_account="ten a minute")
