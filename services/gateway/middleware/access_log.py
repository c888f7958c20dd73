"""One log line per HTTP request: method, route template, status and duration.

In place of uvicorn's access log, which writes the request target as sent:
a client that puts a key in a query string or a path (``?api_key=…``) would
have it written to the log. The route template (/v1/keys/{key_id}) says which
endpoint was called without anything the client typed.
"""

import time

import structlog

log = structlog.get_logger("services.gateway.access")

# Requests that matched no route (404s, and refusals before routing).
UNMATCHED = "unmatched"


class AccessLogMiddleware:
    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        started = time.monotonic()
        status = None

        async def send_and_note(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            route = scope.get("route")
            log.info(
                "http_request",
                method=scope["method"],
                route=getattr(route, "path", UNMATCHED),
                status=status,
                duration_ms=round((time.monotonic() - started) * 1000, 1),
            )
