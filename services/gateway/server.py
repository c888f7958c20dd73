"""Serving the gateway over HTTPS only: TLS 1.2 at least, TLS 1.3 offered."""

import functools
import ssl

import uvicorn

from services.common.key_files import read_private_key_file
from services.gateway.app import GatewaySettings, create_app
from services.gateway.http_protocol import GatewayH11Protocol

# For TLS 1.2 clients: forward-secret AEAD suites only. TLS 1.3 suites are
# all acceptable and not affected by set_ciphers.
_TLS12_CIPHERS = "ECDHE+AESGCM:ECDHE+CHACHA20"


def public_tls_context(cert_file, key_file) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.maximum_version = ssl.TLSVersion.MAXIMUM_SUPPORTED
    context.set_ciphers(_TLS12_CIPHERS)
    context.options |= ssl.OP_NO_COMPRESSION | ssl.OP_CIPHER_SERVER_PREFERENCE
    context.set_alpn_protocols(["http/1.1"])
    # ssl reads the key from its path; its permissions are checked first.
    read_private_key_file(key_file, what="HTTPS key file")
    context.load_cert_chain(cert_file, key_file)
    return context


def build_server(settings: GatewaySettings) -> uvicorn.Server:
    cert_file, key_file = settings.public_tls_files()
    config = uvicorn.Config(
        create_app(settings),
        host=settings.gateway_host,
        port=settings.gateway_port,
        ssl_context_factory=lambda _config, _default: public_tls_context(cert_file, key_file),
        http=functools.partial(
            GatewayH11Protocol,
            request_read_timeout=settings.gateway_request_read_timeout_seconds,
            response_write_timeout=settings.gateway_response_write_timeout_seconds,
        ),
        log_config=None,  # our JSON logging is already configured
        access_log=False,  # AccessLogMiddleware logs requests without their targets
        server_header=False,
        proxy_headers=False,
        timeout_keep_alive=5,
        # Bounds a request head still on its way (the protocol answers 431);
        # a head that arrives whole is measured by HeadLimitMiddleware.
        h11_max_incomplete_event_size=settings.gateway_max_head_bytes,
    )
    return uvicorn.Server(config)
