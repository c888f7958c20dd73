"""A trace span per HTTP request: method, route template and status only."""

from opentelemetry.trace import SpanKind

from services.common.tracing import tracer


class TracingMiddleware:
    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        with tracer().start_as_current_span(
            f"HTTP {scope['method']}", kind=SpanKind.SERVER
        ) as span:
            span.set_attribute("http.request.method", scope["method"])

            async def send_and_record(message):
                if message["type"] == "http.response.start":
                    span.set_attribute("http.response.status_code", message["status"])
                    route = scope.get("route")
                    # The template (/v1/keys/{key_id}), not the path with ids in it.
                    if route is not None and hasattr(route, "path"):
                        span.set_attribute("http.route", route.path)
                await send(message)

            await self.app(scope, receive, send_and_record)
