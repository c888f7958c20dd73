"""Failed internal calls become public errors: the caller's mistakes keep the
service's words, the platform's own failures say nothing of the inside."""

import grpc
import pytest

from services.gateway.clients import translated_errors
from services.gateway.errors import ApiError


def _failed_call(code: grpc.StatusCode, details: str) -> grpc.aio.AioRpcError:
    return grpc.aio.AioRpcError(code, grpc.aio.Metadata(), grpc.aio.Metadata(), details)


async def _translated(code: grpc.StatusCode, details: str) -> ApiError:
    with pytest.raises(ApiError) as translated:
        async with translated_errors("executor"):
            raise _failed_call(code, details)
    return translated.value


@pytest.mark.parametrize(
    ("code", "status", "error_code"),
    [
        (grpc.StatusCode.INVALID_ARGUMENT, 422, "invalid_request"),
        (grpc.StatusCode.NOT_FOUND, 404, "not_found"),
        (grpc.StatusCode.ALREADY_EXISTS, 409, "conflict"),
        (grpc.StatusCode.FAILED_PRECONDITION, 409, "conflict"),
        (grpc.StatusCode.RESOURCE_EXHAUSTED, 429, "too_many_requests"),
        (grpc.StatusCode.UNAUTHENTICATED, 401, "unauthenticated"),
    ],
)
async def test_callers_mistakes_keep_the_services_message(code, status, error_code):
    error = await _translated(code, "what the service said")
    assert (error.status, error.code, error.message) == (
        status,
        error_code,
        "what the service said",
    )


@pytest.mark.parametrize(
    "code",
    [
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.INTERNAL,
        grpc.StatusCode.PERMISSION_DENIED,
        grpc.StatusCode.UNKNOWN,
    ],
)
async def test_platform_failures_are_503_without_the_details(code):
    error = await _translated(code, "failed to connect to ipv4:10.1.2.3:50053")
    assert (error.status, error.code) == (503, "service_unavailable")
    assert error.message == "the executor service, or one it relies on, is unavailable"
    assert "10.1.2.3" not in error.message
