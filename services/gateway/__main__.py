"""`python -m services.gateway`: serve the public API over HTTPS."""

from services.common.logs import configure_logging
from services.common.runtime import stop_with_parent
from services.common.stderr_lines import capture_stderr
from services.common.tracing import configure_tracing
from services.gateway.app import GatewaySettings
from services.gateway.server import build_server

if __name__ == "__main__":
    stop_with_parent()
    settings = GatewaySettings()
    configure_logging("gateway", settings.log_level)
    capture_stderr()
    configure_tracing("gateway", settings.trace_dir)
    build_server(settings).run()
