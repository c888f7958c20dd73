"""Refuse request bodies above a size limit before reading them.

The public API takes small JSON documents, so every body must declare its
length: any Transfer-Encoding is refused with 411 (even beside a
Content-Length: the HTTP server would then read the body as chunked, of any
size), and a declared length above the limit with 413. The HTTP server holds
the client to the length it declared.
"""

from services.gateway.errors import error_response


class BodyLimitMiddleware:
    def __init__(self, app, *, max_body_bytes: int):
        if max_body_bytes <= 0:
            raise ValueError("max_body_bytes must be positive")
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        headers = dict(scope.get("headers", []))
        declared = headers.get(b"content-length")
        refusal = None
        if b"transfer-encoding" in headers:
            refusal = _refusal(411, "length_required", "request body needs a Content-Length")
        elif declared is not None and not declared.isdigit():
            refusal = _refusal(400, "bad_request", "invalid Content-Length")
        elif declared is not None and int(declared) > self.max_body_bytes:
            refusal = _refusal(413, "payload_too_large", "request body is too large")
        await (self.app if refusal is None else refusal)(scope, receive, send)


def _refusal(status: int, code: str, message: str):
    # The body is left unread, so where the next request would begin is
    # unknown (with a Transfer-Encoding, whatever a proxy in front believes):
    # the connection ends with this answer (RFC 9112, section 6.1).
    return error_response(status, code, message, headers={"Connection": "close"})
