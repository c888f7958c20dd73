"""Mutual TLS between services, and who is calling.

Every internal gRPC server demands a client certificate signed by the platform
CA; the certificate's common name is the calling service's name. A method
declares which callers it accepts with ``allow_callers``; everyone else gets
PERMISSION_DENIED before the method body runs.
"""

import functools
import json
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from opentelemetry.trace import SpanKind

from services.common.key_files import read_private_key_file
from services.common.settings import SERVICE_NAMES
from services.common.tracing import tracer

# A call made while the peer is (re)starting waits for it, within the call's
# deadline, instead of failing at once: services start in any order.
_CHANNEL_SERVICE_CONFIG = json.dumps(
    {"methodConfig": [{"name": [{}], "waitForReady": True, "timeout": "15s"}]}
)


@dataclass(frozen=True)
class ServiceCredentials:
    """The CA bundle plus one service's certificate and private key."""

    service: str
    ca_pem: bytes
    cert_pem: bytes
    key_pem: bytes = field(repr=False)

    @classmethod
    def load(cls, tls_dir: Path, service: str) -> "ServiceCredentials":
        if service not in SERVICE_NAMES:
            raise ValueError(f"unknown service name {service!r}")
        tls_dir = Path(tls_dir)
        try:
            return cls(
                service=service,
                ca_pem=(tls_dir / "ca.pem").read_bytes(),
                cert_pem=(tls_dir / f"{service}.pem").read_bytes(),
                key_pem=read_private_key_file(
                    tls_dir / f"{service}.key", what=f"TLS key file of {service!r}"
                ),
            )
        except FileNotFoundError as missing:
            raise ValueError(
                f"TLS material for {service!r} is missing: {missing.filename}"
            ) from None

    def server_credentials(self) -> grpc.ServerCredentials:
        return grpc.ssl_server_credentials(
            [(self.key_pem, self.cert_pem)],
            root_certificates=self.ca_pem,
            require_client_auth=True,
        )

    def channel_to(self, target: str, service: str) -> grpc.aio.Channel:
        """A channel to ``service`` at ``target`` that checks the server is that service.

        The server's certificate must carry the service name, so a vault
        certificate cannot answer for the identity service.
        """
        if service not in SERVICE_NAMES:
            raise ValueError(f"unknown service name {service!r}")
        credentials = grpc.ssl_channel_credentials(
            root_certificates=self.ca_pem,
            private_key=self.key_pem,
            certificate_chain=self.cert_pem,
        )
        return grpc.aio.secure_channel(
            target,
            credentials,
            options=[
                ("grpc.ssl_target_name_override", service),
                ("grpc.service_config", _CHANNEL_SERVICE_CONFIG),
                # After an outage, try again within seconds, not minutes.
                ("grpc.initial_reconnect_backoff_ms", 200),
                ("grpc.max_reconnect_backoff_ms", 5000),
            ],
        )


def caller_of(context: grpc.aio.ServicerContext) -> str | None:
    """The service name on the peer's verified certificate, or None."""
    auth = context.auth_context()
    if auth.get("transport_security_type") != [b"ssl"]:
        return None
    names = auth.get("x509_common_name") or []
    if len(names) != 1:
        return None
    name = names[0].decode("ascii", errors="replace")
    return name if name in SERVICE_NAMES else None


def allow_callers(*services: str):
    """Refuse every caller of the decorated gRPC method but ``services``."""
    unknown = set(services) - set(SERVICE_NAMES)
    if unknown:
        raise ValueError(f"unknown service names: {sorted(unknown)}")

    def decorate(method):
        @functools.wraps(method)
        async def guarded(self, request, context):
            caller = caller_of(context)
            span_name = f"{type(self).__name__}/{method.__name__}"
            with tracer().start_as_current_span(span_name, kind=SpanKind.SERVER) as span:
                span.set_attribute("rpc.caller", caller or "unknown")
                if caller not in services:
                    await context.abort(grpc.StatusCode.PERMISSION_DENIED, "caller not allowed")
                return await method(self, request, context)

        return guarded

    return decorate
