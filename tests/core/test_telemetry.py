"""Telemetry recorded through the real OpenTelemetry SDK, read back from its in-memory exporters."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from ag_ui.core import RunStartedEvent
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from starlette.requests import Request

from agentstream import config, runtime, telemetry
from agentstream.agent.llm.base import Chunk, TextDelta, Usage
from agentstream.agent.steps import StepContext, finish_run, run_model_step
from agentstream.agent.tools import ToolRegistry
from agentstream.http import handlers
from agentstream.http.slots import get_stream_slots
from agentstream.log.events import NewEvent
from agentstream.log.stores.sqlite import SQLiteEventStore
from orchestrators.tools import calculate, get_time, get_weather
from tests.harness import ROOT

DEMO_TOOLS = ToolRegistry([get_weather, get_time, calculate])

WORD_DELAY = 0.01


class Telemetry:
    def __init__(self) -> None:
        self.reader = InMemoryMetricReader()
        self.spans = InMemorySpanExporter()
        self.meter_provider = MeterProvider(metric_readers=[self.reader])
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.spans))

    def points(self) -> dict[str, list[Any]]:
        data = self.reader.get_metrics_data()
        found: dict[str, list[Any]] = {}
        for resource in data.resource_metrics if data else []:
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    found[metric.name] = list(metric.data.data_points)
        return found


@pytest.fixture
def otel() -> Iterator[Telemetry]:
    recorded = Telemetry()
    telemetry.enable(meter_provider=recorded.meter_provider, tracer_provider=recorded.tracer_provider)
    yield recorded
    telemetry.disable()
    recorded.meter_provider.shutdown()
    recorded.tracer_provider.shutdown()


class PacedModel:
    async def stream(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> AsyncIterator[Chunk]:
        for word in ["One ", "two ", "three ", "four ", "five"]:
            await asyncio.sleep(WORD_DELAY)
            yield TextDelta(word)
        yield Usage(input_tokens=3, output_tokens=5)


def test_a_model_step_records_time_to_first_token_tokens_per_second_events_and_spans(
    tmp_path: Path, otel: Telemetry
) -> None:
    async def main() -> int:
        store = SQLiteEventStore(tmp_path / "events.db")
        await store.start_run(
            "t", "r", [], [{"id": "u", "role": "user", "content": "hi"}], create=True, agent="default"
        )
        ctx = StepContext(store, "t", "r")
        await run_model_step(ctx, PacedModel(), DEMO_TOOLS, 0, max_attempts=1)
        await finish_run(ctx)
        written = len(await store.read("t", after=0))
        await store.close()
        return written

    written = asyncio.run(main())
    points = otel.points()
    [first_token] = points["agentstream.model.time_to_first_token"]
    assert first_token.count == 1 and first_token.sum >= WORD_DELAY
    [rate] = points["agentstream.model.tokens_per_second"]
    # Five tokens, the last at least four delays after the first: at most 5 / (4 * delay) per second.
    assert rate.count == 1 and 0 < rate.sum <= 5 / (4 * WORD_DELAY)
    [appended] = points["agentstream.log.events.appended"]
    assert appended.value == written > 5
    spans = {span.name: span for span in otel.spans.get_finished_spans()}
    assert {"agentstream.model_step", "agentstream.finish_run"} <= set(spans)
    assert spans["agentstream.model_step"].attributes == {"thread_id": "t", "run_id": "r", "step": "0"}


def test_streams_count_open_while_served_and_cursors_count_as_resumes(
    tmp_path: Path, otel: Telemetry, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EVENT_STORE_PATH", str(tmp_path / "events.db"))
    caches = [config.get_settings, runtime.get_store, runtime.get_hub, get_stream_slots]
    for cache in caches:
        cache.cache_clear()

    async def serve(path: str, headers: list[tuple[bytes, bytes]]) -> tuple[int | None, bytes]:
        request = Request({"type": "http", "method": "GET", "path": path, "query_string": b"", "headers": headers})
        response = await handlers.stream_thread(request, "t")
        open_before_sending = _value(otel.points(), "agentstream.streams.open")
        body = b""

        async def receive() -> dict[str, Any]:
            await asyncio.Event().wait()  # the client never hangs up; the stream ends by itself
            return {}

        async def send(message: dict[str, Any]) -> None:
            nonlocal body
            body += message.get("body", b"")

        await response({"type": "http", "asgi": {"spec_version": "2.3"}}, receive, send)
        return open_before_sending, body

    async def main() -> list[tuple[int | None, bytes]]:
        store = runtime.get_store()
        started = NewEvent.of(RunStartedEvent(thread_id="t", run_id="r"))
        await store.start_run(
            "t", "r", [started], [{"id": "u", "role": "user", "content": "hi"}], create=True, agent="default"
        )
        await finish_run(StepContext(store, "t", "r"))
        served = [
            await serve("/api/agent/stream/t", []),
            await serve("/api/agent/stream/t", [(b"last-event-id", b"0")]),
        ]
        served.append(await serve("/api/agent/stream/t", [(b"last-event-id", b"1")]))
        await store.close()
        return served

    try:
        served = asyncio.run(main())
    finally:
        for cache in caches:
            cache.cache_clear()
    assert [opened for opened, _ in served] == [1, 1, 1]
    assert all(b"RUN_FINISHED" in body for _, body in served)
    points = otel.points()
    assert _value(points, "agentstream.streams.open") == 0
    assert _value(points, "agentstream.streams.resumed") == 1  # only the cursor past 0 is a resume


def test_run_loggers_put_thread_and_run_ids_on_the_records(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="agentstream"):
        telemetry.run_logger(logging.getLogger("agentstream.test"), "t1", "r1").info("Run %s started", "r1")
    [record] = caplog.records
    assert (record.thread_id, record.run_id, record.getMessage()) == ("t1", "r1", "Run r1 started")  # type: ignore[attr-defined]


def test_without_a_connection_string_the_azure_monitor_distro_is_never_imported() -> None:
    probe = "import sys, function_app; print('azure.monitor.opentelemetry' in sys.modules)"
    env = {"PATH": "", "PYTHONPATH": str(ROOT)}
    completed = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=True
    )
    assert completed.stdout.strip() == "False"


def _value(points: dict[str, list[Any]], name: str) -> int | None:
    found = points.get(name)
    return sum(point.value for point in found) if found else None
