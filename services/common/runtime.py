"""Starting and stopping a service process."""

import asyncio
import ctypes
import os
import signal
import sys

import grpc
import structlog

from services.common.mtls import ServiceCredentials

log = structlog.get_logger(__name__)


def stop_with_parent() -> None:
    """Ask Linux to send SIGTERM when the launching process dies.

    Set by the development launcher (AECARO_STOP_WITH_PARENT=1), so that a
    launcher killed with SIGKILL leaves no service running behind it.
    """
    if os.environ.get("AECARO_STOP_WITH_PARENT") != "1" or not sys.platform.startswith("linux"):
        return
    pr_set_pdeathsig = 1
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(pr_set_pdeathsig, signal.SIGTERM, 0, 0, 0)
    expected_parent = os.environ.get("AECARO_PARENT_PID")
    if expected_parent and os.getppid() != int(expected_parent):
        # The launcher died before prctl took effect.
        os.kill(os.getpid(), signal.SIGTERM)


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
    from services.common.stderr_lines import capture_stderr
    from services.common.tracing import configure_tracing

    stop_with_parent()
    configure_logging(name, settings.log_level)
    capture_stderr()
    configure_tracing(name, settings.trace_dir)

    async def main() -> None:
        try:
            running = await start(settings)
        except Exception:
            # Logged here, once, as JSON, rather than as a bare traceback.
            log.error("service_start_failed", name=name, exc_info=True)
            raise SystemExit(1) from None
        log.info("service_started", name=name)
        try:
            await wait_for_stop_signal()
            log.info("service_stopping", name=name)
        finally:
            await running.stop()

    asyncio.run(main())
