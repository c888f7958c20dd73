"""The rate limiter on Redis (the shared store of several gateways)."""

import secrets

import pytest
from starlette.requests import Request

from services.gateway.errors import ApiError
from services.gateway.rate_limit import RateLimiter, RateLimits

REDIS = "async+redis://127.0.0.1:6379"


def _request(host: str) -> Request:
    return Request({"type": "http", "client": (host, 50000), "headers": [], "path": "/"})


@pytest.fixture
def limiter():
    return RateLimiter(REDIS, RateLimits.parse(per_client="3/minute", per_account="2/minute"))


async def test_each_client_has_its_own_allowance(limiter):
    route = f"test-{secrets.token_hex(4)}"
    for _ in range(3):
        await limiter.check_client(route, _request("10.0.0.1"))
    with pytest.raises(ApiError) as refused:
        await limiter.check_client(route, _request("10.0.0.1"))
    assert (refused.value.status, refused.value.code) == (429, "too_many_requests")
    assert int(refused.value.headers["Retry-After"]) >= 1
    await limiter.check_client(route, _request("10.0.0.2"))


async def test_accounts_are_counted_whatever_their_case(limiter):
    route = f"test-{secrets.token_hex(4)}"
    await limiter.check_account(route, "Ada@Example.com")
    await limiter.check_account(route, "ada@example.com ")
    with pytest.raises(ApiError):
        await limiter.check_account(route, "ADA@EXAMPLE.COM")


async def test_look_alike_spellings_of_an_account_share_its_counter(limiter):
    route = f"test-{secrets.token_hex(4)}"
    await limiter.check_account(route, "ada@example.com")
    await limiter.check_account(route, "ada@ｅxample.com")  # full-width e
    with pytest.raises(ApiError):
        await limiter.check_account(route, "ａｄａ@example.com")


async def test_text_that_is_no_email_is_still_counted(limiter):
    route = f"test-{secrets.token_hex(4)}"
    await limiter.check_account(route, "not an email")
    await limiter.check_account(route, "NOT AN EMAIL ")
    with pytest.raises(ApiError):
        await limiter.check_account(route, "not an email")


def test_a_synchronous_storage_url_is_a_configuration_error():
    with pytest.raises(ValueError, match="async"):
        RateLimiter("memory://", RateLimits.parse(per_client="1/second", per_account="1/second"))
