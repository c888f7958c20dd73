"""Starting and stopping a service process."""

import asyncio
import signal

import grpc
import structlog

from services.common.mtls import ServiceCredentials

log = structlog.get_logger(__name__)


async def wait_for_stop_signal() -> None:
    """Return once SIGINT or SIGTERM arrives."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()


async def start_grpc_server(
    register, servicer, *, address: str, credentials: ServiceCredentials
) -> grpc.aio.Server:
    """Serve ``servicer`` on ``address`` over mutual TLS only.

    ``register`` is the generated ``add_<Name>Servicer_to_server`` function.
    """
    server = grpc.aio.server(
        options=[
            ("grpc.max_receive_message_length", 1 << 20),
            # gRPC sets SO_REUSEPORT by default, which lets a second process
            # bind the same port and take a share of our callers. Refuse.
            ("grpc.so_reuseport", 0),
        ]
    )
    register(servicer, server)
    port = server.add_secure_port(address, credentials.server_credentials())
    if port == 0:
        raise ValueError(f"cannot listen on {address}")
    await server.start()
    log.info("grpc_listening", address=address)
    return server


def run_service(name: str, settings, start) -> None:
    """Entry point of ``python -m services.<name>``: log as JSON, start, serve
    until SIGINT/SIGTERM, stop."""
    from services.common.logs import configure_logging
    from services.common.tracing import configure_tracing

    configure_logging(name, settings.log_level)
    configure_tracing(name, settings.trace_dir)

    async def main() -> None:
        running = await start(settings)
        log.info("service_started", name=name)
        try:
            await wait_for_stop_signal()
            log.info("service_stopping", name=name)
        finally:
            await running.stop()

    asyncio.run(main())
