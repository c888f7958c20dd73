"""The public API as an ASGI application.

Layers, outermost first: HSTS on every response; a trace span and a log line
per request; the request head's size limit; the body size limit; then
FastAPI with its routes and the one JSON error shape.
"""

import contextlib
from pathlib import Path

from fastapi import FastAPI
from pydantic import Field

from services.common.settings import PlatformSettings
from services.gateway.auth import TokenVerifier
from services.gateway.clients import InternalClients
from services.gateway.errors import ERROR_RESPONSES, install_error_handlers
from services.gateway.middleware.access_log import AccessLogMiddleware
from services.gateway.middleware.body_limit import BodyLimitMiddleware
from services.gateway.middleware.head_limit import HeadLimitMiddleware
from services.gateway.middleware.hsts import HSTSMiddleware
from services.gateway.middleware.tracing import TracingMiddleware
from services.gateway.rate_limit import RateLimiter, RateLimits
from services.gateway.routes import audit, auth, keys, runs, wellknown


class GatewaySettings(PlatformSettings):
    gateway_host: str = "127.0.0.1"
    gateway_port: int = 8443
    # Certificate and key of the public HTTPS endpoint; by default the
    # development CA's localhost certificate.
    gateway_tls_cert_file: Path | None = None
    gateway_tls_key_file: Path | None = None
    gateway_max_body_bytes: int = 128 * 1024
    # Request line and headers together; larger heads get 431.
    gateway_max_head_bytes: int = Field(default=16 * 1024, gt=0)
    # Time a client has to send a whole request (headers and body), counted
    # from its first byte; slower clients get 408 and are disconnected.
    gateway_request_read_timeout_seconds: float = Field(default=10.0, gt=0)
    # Time a client that stopped reading has to take its answer again before
    # it is disconnected (pipelined requests whose answers it leaves unread).
    gateway_response_write_timeout_seconds: float = Field(default=30.0, gt=0)
    # Limits on log-in, sign-up and refresh (syntax of the `limits` library;
    # see rate_limit.py for what each counts). In memory suits one gateway;
    # several share Redis: async+redis://host:6379
    gateway_rate_limit_storage: str = "async+memory://"
    gateway_rate_limit_per_client: str = "60/minute"
    gateway_login_failures_per_account_and_client: str = "10/minute"
    gateway_login_failures_per_account: str = "100/hour"

    def public_tls_files(self) -> tuple[Path, Path]:
        return (
            self.gateway_tls_cert_file or self.tls_dir / "public-https.pem",
            self.gateway_tls_key_file or self.tls_dir / "public-https.key",
        )


def create_api(settings: GatewaySettings) -> FastAPI:
    @contextlib.asynccontextmanager
    async def lifespan(api: FastAPI):
        clients = InternalClients.connect(settings)
        api.state.clients = clients
        api.state.token_verifier = TokenVerifier(clients.identity)
        api.state.rate_limiter = RateLimiter(
            settings.gateway_rate_limit_storage,
            RateLimits.parse(
                per_client=settings.gateway_rate_limit_per_client,
                login_failures_per_account_and_client=(
                    settings.gateway_login_failures_per_account_and_client
                ),
                login_failures_per_account=settings.gateway_login_failures_per_account,
            ),
        )
        yield
        await clients.close()

    api = FastAPI(
        title="AECARO API",
        version="0.1.0",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        # No 307 to the slash-less path: its Location would echo the Host header.
        redirect_slashes=False,
        responses=ERROR_RESPONSES,
    )
    install_error_handlers(api)
    for module in (wellknown, auth, keys, runs, audit):
        api.include_router(module.router)
    return api


def create_app(settings: GatewaySettings):
    api = create_api(settings)
    limited = HeadLimitMiddleware(
        BodyLimitMiddleware(api, max_body_bytes=settings.gateway_max_body_bytes),
        max_head_bytes=settings.gateway_max_head_bytes,
    )
    return HSTSMiddleware(TracingMiddleware(AccessLogMiddleware(limited)))
