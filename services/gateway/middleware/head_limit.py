"""Refuse requests whose head (request line and headers) is above a size limit.

The HTTP parser's own limit only bounds a head still incomplete in its
buffer: one sent whole in a single write gets through at any size. This
layer measures each head the parser let through and answers 431 above the
limit, the same status the protocol gives a head that outgrows the limit on
its way in (http_protocol.py). The size is counted as parsed: the request
line, each header as ``name: value``, and their line ends; whitespace the
parser drops around a value is not counted.
"""

from services.gateway.errors import error_response

# Also what the HTTP protocol answers for a head that outgrows the limit on its way in.
HEAD_TOO_LARGE = ("request_head_too_large", "request line and headers are too large")

_LINE_END = len(b"\r\n")
_HEADER_SEPARATOR = len(b": ")


class HeadLimitMiddleware:
    def __init__(self, app, *, max_head_bytes: int):
        if max_head_bytes <= 0:
            raise ValueError("max_head_bytes must be positive")
        self.app = app
        self.max_head_bytes = max_head_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        if _request_head_size(scope) > self.max_head_bytes:
            await error_response(431, *HEAD_TOO_LARGE)(scope, receive, send)
            return
        await self.app(scope, receive, send)


def _request_head_size(scope) -> int:
    target = scope.get("raw_path") or scope["path"].encode()
    if query := scope.get("query_string"):
        target += b"?" + query
    request_line = b"%s %s HTTP/%s" % (
        scope["method"].encode(),
        target,
        scope["http_version"].encode(),
    )
    headers = sum(len(name) + _HEADER_SEPARATOR + len(value) for name, value in scope["headers"])
    # One after the request line, one after each header, one closing the head.
    line_ends = _LINE_END * (len(scope["headers"]) + 2)
    return len(request_line) + headers + line_ends
