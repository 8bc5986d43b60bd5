"""Traces and metrics through OpenTelemetry, and log records that carry thread and run ids.

Telemetry is off unless APPLICATIONINSIGHTS_CONNECTION_STRING is set: `configure()` then sets up
the Azure Monitor distro (azure-monitor-opentelemetry), which exports traces, metrics and logs
to Application Insights. While it is off every recording call below is a no-op and the distro is
never imported. Tests hand in their own providers through `enable()`.

Metrics (no thread or run ids on them: that would make one series per thread):
- `agentstream.model.time_to_first_token` (s): model call to its first streamed output;
- `agentstream.model.tokens_per_second`: output tokens over the generation time of a model step;
- `agentstream.log.events.appended`: events committed to the event store;
- `agentstream.streams.open`: SSE responses open on this instance;
- `agentstream.streams.resumed`: streams opened with a cursor (a reconnect).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from .config import TelemetrySettings

if TYPE_CHECKING:
    from opentelemetry.metrics import MeterProvider
    from opentelemetry.trace import TracerProvider

logger = logging.getLogger(__name__)

INSTRUMENTATION_NAME = "agentstream"


class _Instruments:
    def __init__(self, meter_provider: MeterProvider, tracer_provider: TracerProvider) -> None:
        meter = meter_provider.get_meter(INSTRUMENTATION_NAME)
        self.tracer = tracer_provider.get_tracer(INSTRUMENTATION_NAME)
        self.time_to_first_token = meter.create_histogram(
            "agentstream.model.time_to_first_token", unit="s", description="Model call to its first streamed output"
        )
        self.tokens_per_second = meter.create_histogram(
            "agentstream.model.tokens_per_second",
            unit="{token}/s",
            description="Output tokens over the generation time of a model step",
        )
        self.events_appended = meter.create_counter(
            "agentstream.log.events.appended", unit="{event}", description="Events committed to the event store"
        )
        self.open_streams = meter.create_up_down_counter(
            "agentstream.streams.open", unit="{stream}", description="Stream responses open on this instance"
        )
        self.resumes = meter.create_counter(
            "agentstream.streams.resumed", unit="{stream}", description="Streams opened with a cursor"
        )


_instruments: _Instruments | None = None


def configure(settings: TelemetrySettings) -> bool:
    """Export to Application Insights when a connection string is set. Returns whether telemetry is on."""
    if not settings.connection_string:
        return False
    try:
        from azure.monitor.opentelemetry import configure_azure_monitor
        from opentelemetry import metrics, trace
    except ImportError:
        logger.warning("APPLICATIONINSIGHTS_CONNECTION_STRING is set but azure-monitor-opentelemetry is not installed")
        return False
    options: dict[str, Any] = {"connection_string": settings.connection_string}
    if settings.entra_ingestion:
        # Application Insights with local authentication off takes only Entra ID tokens.
        from azure.identity import ManagedIdentityCredential

        options["credential"] = ManagedIdentityCredential(client_id=settings.entra_client_id)
    quiet_azure_http_logging()
    configure_azure_monitor(**options)
    enable(meter_provider=metrics.get_meter_provider(), tracer_provider=trace.get_tracer_provider())
    return True


def enable(*, meter_provider: MeterProvider, tracer_provider: TracerProvider) -> None:
    global _instruments
    _instruments = _Instruments(meter_provider, tracer_provider)


def disable() -> None:
    global _instruments
    _instruments = None


@contextlib.contextmanager
def span(name: str, **attributes: str) -> Iterator[None]:
    """A span around a piece of work; an exception escaping it is recorded on the span."""
    if _instruments is None:
        yield
        return
    with _instruments.tracer.start_as_current_span(name, attributes=attributes):
        yield


def record_time_to_first_token(seconds: float) -> None:
    if _instruments is not None:
        _instruments.time_to_first_token.record(seconds)


def record_tokens_per_second(rate: float) -> None:
    if _instruments is not None:
        _instruments.tokens_per_second.record(rate)


def record_events_appended(count: int) -> None:
    if _instruments is not None:
        _instruments.events_appended.add(count)


def stream_opened() -> None:
    if _instruments is not None:
        _instruments.open_streams.add(1)


def stream_closed() -> None:
    if _instruments is not None:
        _instruments.open_streams.add(-1)


def record_resume() -> None:
    if _instruments is not None:
        _instruments.resumes.add(1)


# Azure SDK clients log every request and response, headers included, at INFO: with the Table store
# that is hundreds of lines a minute, in the console and in Application Insights.
AZURE_HTTP_LOGGER = "azure.core.pipeline.policies.http_logging_policy"


def quiet_azure_http_logging() -> None:
    """Raise the Azure SDK's request logger to WARNING, unless someone set its level on purpose."""
    azure_http = logging.getLogger(AZURE_HTTP_LOGGER)
    if azure_http.level == logging.NOTSET:
        azure_http.setLevel(logging.WARNING)


def run_logger(log: logging.Logger, thread_id: str, run_id: str | None = None) -> logging.LoggerAdapter[Any]:
    """A logger whose records carry `thread_id` and `run_id` as attributes (custom dimensions in Azure)."""
    return logging.LoggerAdapter(log, {"thread_id": thread_id, "run_id": run_id})
