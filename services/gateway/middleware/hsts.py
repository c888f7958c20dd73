"""Strict-Transport-Security on every HTTP response, errors included.

It wraps the whole application (outside FastAPI's own error middleware), so
even a 500 produced by Starlette's last-resort handler carries the header.
"""

HSTS_VALUE = b"max-age=63072000; includeSubDomains"


class HSTSMiddleware:
    def __init__(self, app, *, value: bytes = HSTS_VALUE):
        self.app = app
        self.value = value

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_hsts(message):
            if message["type"] == "http.response.start":
                headers = [
                    (name, value)
                    for name, value in message.get("headers", [])
                    if name.lower() != b"strict-transport-security"
                ]
                headers.append((b"strict-transport-security", self.value))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_hsts)
