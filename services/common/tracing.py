"""OpenTelemetry traces: one span per public request and per internal call.

Spans carry names, routes, callers and status codes: never bodies, headers or
anything a user typed. When ``AECARO_TRACE_DIR`` is set, each service writes
its finished spans there as JSON lines (what the leak tests read); a
production deployment swaps in an OTLP exporter here.
"""

from pathlib import Path

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SimpleSpanProcessor


def configure_tracing(service: str, trace_dir: Path | None) -> None:
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    if trace_dir is not None:
        trace_dir.mkdir(parents=True, exist_ok=True)
        # Open for the life of the process; line-buffered so a crash loses no span.
        out = open(trace_dir / f"{service}.jsonl", "a", buffering=1)  # noqa: SIM115
        provider.add_span_processor(
            SimpleSpanProcessor(
                ConsoleSpanExporter(
                    out=out, formatter=lambda span: span.to_json(indent=None) + "\n"
                )
            )
        )
    trace.set_tracer_provider(provider)


def tracer():
    return trace.get_tracer("aecaro")
