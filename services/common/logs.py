"""Structured JSON logs on stdout, one line per event, UTC timestamps.

Records from the standard library (uvicorn, grpc, asyncio) go through the same
pipeline, so every line a service prints is JSON. A last line of defence
replaces the value of any field whose name suggests a secret; the first line of
defence is that no code passes a secret to a logger at all.
"""

import logging
import sys

import structlog

# Field names whose values must never reach a log line.
_SENSITIVE_FIELD_MARKERS = ("password", "secret", "token", "authorization", "api_key", "private")
_REDACTED = "[redacted]"


def _redact_sensitive_fields(_logger, _method, event_dict):
    for field in list(event_dict):
        lowered = field.lower()
        if any(marker in lowered for marker in _SENSITIVE_FIELD_MARKERS):
            event_dict[field] = _REDACTED
    return event_dict


def configure_logging(service: str, level: str = "INFO") -> None:
    """Send every log record of this process to stdout as JSON lines."""

    def add_service(_logger, _method, event_dict):
        event_dict.setdefault("service", service)
        return event_dict

    shared_processors = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        add_service,
        _redact_sensitive_fields,
    ]
    structlog.configure(
        processors=[*shared_processors, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared_processors,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
        ],
    )
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level)
    # uvicorn installs its own handlers; route its records through ours instead.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        uvicorn_logger = logging.getLogger(name)
        uvicorn_logger.handlers = []
        uvicorn_logger.propagate = True
    # Python's warnings go to stderr as plain text unless they are logged.
    logging.captureWarnings(True)
