"""One error shape for the whole public API.

Every failure is ``{"error": {"code": "...", "message": "..."}}`` with a 4xx
for the caller's mistakes and a 5xx only for the platform's own. Messages
never echo the submitted value: it could be a password or a key.
"""

import json

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

log = structlog.get_logger(__name__)

_STATUS_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    411: "length_required",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    429: "too_many_requests",
}


class ErrorDetail(BaseModel):
    code: str
    message: str


class ErrorOut(BaseModel):
    """The body of every error answer, as the OpenAPI document describes it."""

    error: ErrorDetail


# Declared on every route, in place of FastAPI's own 422 description (whose
# body is not what the handlers below send).
ERROR_RESPONSES = {
    "4XX": {"model": ErrorOut, "description": "The request cannot be served as sent"},
    "5XX": {"model": ErrorOut, "description": "The platform failed or is unavailable"},
}


class ApiError(Exception):
    """Raised by route code to answer with a JSON error."""

    def __init__(self, status: int, code: str, message: str, headers: dict | None = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers


def error_body(code: str, message: str) -> bytes:
    """The error shape as bytes, for layers below the application (the HTTP protocol)."""
    return json.dumps({"error": {"code": code, "message": message}}).encode()


def error_response(status: int, code: str, message: str, headers=None) -> JSONResponse:
    """The error shape as a response; being an ASGI app, middleware can send it too."""
    return JSONResponse(
        {"error": {"code": code, "message": message}}, status_code=status, headers=headers
    )


def _describe_validation_error(error: dict) -> str:
    # loc is like ("body", "email"); msg is pydantic's text, which names the
    # rule broken (the "input" member is never used). A parser's own error
    # text (ctx["error"], as for a malformed UUID) can quote the input, so it
    # is left out, except for our validators' ValueErrors, which never do.
    if error.get("type") == "extra_forbidden":
        # The unexpected field's name is the caller's text too: a secret pasted
        # as a key would come back in the answer.
        return "body: unexpected field"
    where = ".".join(str(part) for part in error.get("loc", ())[1:]) or "body"
    if error.get("type") != "value_error" and "error" in (error.get("ctx") or {}):
        return f"{where}: invalid value"
    return f"{where}: {error.get('msg', 'invalid value')}"


async def _on_api_error(_request: Request, exc: ApiError):
    return error_response(exc.status, exc.code, exc.message, exc.headers)


def _malformed_json() -> JSONResponse:
    return error_response(400, "malformed_json", "request body is not valid JSON")


def _is_unparsable_body(exc: StarletteHTTPException) -> bool:
    # What json.loads raises beside JSONDecodeError (digits past Python's
    # int conversion limit, nesting past the recursion limit, bytes that are
    # no UTF-8) FastAPI turns into a 400 of its own, caused by that error.
    return exc.status_code == 400 and isinstance(exc.__cause__, ValueError | RecursionError)


async def _on_http_exception(_request: Request, exc: StarletteHTTPException):
    if _is_unparsable_body(exc):
        return _malformed_json()
    code = _STATUS_CODES.get(exc.status_code, "error")
    message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
    return error_response(exc.status_code, code, message, getattr(exc, "headers", None))


async def _on_validation_error(_request: Request, exc: RequestValidationError):
    errors = exc.errors()
    if any(error.get("type") == "json_invalid" for error in errors):
        return _malformed_json()
    message = "; ".join(_describe_validation_error(error) for error in errors[:5])
    return error_response(422, "invalid_request", message)


async def _on_unexpected(_request: Request, exc: Exception):
    # Logged once here, with the traceback; the client learns nothing more.
    log.error("unhandled_error", exc_info=exc)
    return error_response(500, "internal", "internal error")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _on_api_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_exception)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(Exception, _on_unexpected)
