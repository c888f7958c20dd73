"""Refuse request bodies above a size limit before reading them.

The public API takes small JSON documents, so every body must declare its
length: any Transfer-Encoding is refused with 411 (even beside a
Content-Length: the HTTP server would then read the body as chunked, of any
size), and a declared length above the limit with 413. The HTTP server holds
the client to the length it declared.
"""

import json


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
        if b"transfer-encoding" in headers:
            await _send_error(send, 411, "length_required", "request body needs a Content-Length")
            return
        if declared is not None:
            if not declared.isdigit():
                await _send_error(send, 400, "bad_request", "invalid Content-Length")
                return
            if int(declared) > self.max_body_bytes:
                await _send_error(send, 413, "payload_too_large", "request body is too large")
                return
        await self.app(scope, receive, send)


async def _send_error(send, status: int, code: str, message: str) -> None:
    body = json.dumps({"error": {"code": code, "message": message}}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
