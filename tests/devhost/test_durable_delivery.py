"""The delivery modes: every activity twice and every episode twice (at-least-once made visible), and a random
wait on every queue hop (a polled queue's latency)."""

from __future__ import annotations

from collections.abc import Generator
from datetime import timedelta
from pathlib import Path
from typing import Any

import azure.durable_functions as df
import pytest

from devhost.durable.delivery import DeliveryMode
from devhost.durable.events import EventType, parse_event_time
from tests.devhost import sample_app
from tests.devhost.harness import client_for, run, running_engine, wait_for_status

DONE = {"Completed", "Failed"}


class FixedLatency(DeliveryMode):
    """Every hop waits the whole latency, so the test can measure each one."""

    def hop_delay(self) -> float:
        return self.latency_ms / 1000


class Sequential(DeliveryMode):
    def duplicate_concurrently(self) -> bool:
        return False


class Concurrent(DeliveryMode):
    def duplicate_concurrently(self) -> bool:
        return True


def test_the_settings_are_read_and_bad_values_refused() -> None:
    assert DeliveryMode.from_environment({}) == DeliveryMode(duplicate=False, latency_ms=0)
    environ = {"DEVHOST_DUPLICATE_DELIVERY": "1", "DEVHOST_DISPATCH_LATENCY_MS": "250"}
    assert DeliveryMode.from_environment(environ) == DeliveryMode(duplicate=True, latency_ms=250)
    with pytest.raises(ValueError, match="DEVHOST_DUPLICATE_DELIVERY has value 'yes'. Expected 1"):
        DeliveryMode.from_environment({"DEVHOST_DUPLICATE_DELIVERY": "yes"})
    with pytest.raises(ValueError, match="DEVHOST_DISPATCH_LATENCY_MS has value '-5'. Expected a whole number"):
        DeliveryMode.from_environment({"DEVHOST_DISPATCH_LATENCY_MS": "-5"})


def test_hop_delays_spread_uniformly_up_to_the_latency() -> None:
    delays = [DeliveryMode(latency_ms=50).hop_delay() for _ in range(2000)]
    assert all(0 <= d <= 0.05 for d in delays)
    assert min(delays) < 0.005 and max(delays) > 0.045
    assert 0.022 < sum(delays) / len(delays) < 0.028
    assert DeliveryMode().hop_delay() == 0


@pytest.mark.parametrize("mode", [Sequential(duplicate=True), Concurrent(duplicate=True)], ids=["after", "concurrent"])
def test_duplicate_delivery_runs_each_activity_twice_and_the_instance_sees_one_result(
    tmp_path: Path, mode: DeliveryMode
) -> None:
    async def body() -> None:
        async with running_engine(tmp_path / "d.db", mode) as engine:
            client = client_for(engine)
            options = {"key": "dup", "fail_times": 0, "attempts": 1}
            instance_id = await client.start_new("with_retry", None, options)
            status = await wait_for_status(client, instance_id, DONE)
            await engine.wait_for_idle()
            assert sample_app.ATTEMPTS["dup"] == 2
            # The first completion counts; the second is in the history and changes nothing (DTFx logs it).
            assert status.output in ({"ok": True, "attempts": 1}, {"ok": True, "attempts": 2})
            history = engine.management.history(instance_id)
            completions = [e for e in history if e["EventType"] == EventType.TASK_COMPLETED]
            assert [e["TaskScheduledId"] for e in completions] in ([0], [0, 0])
            assert [e["EventType"] for e in history].count(EventType.EXECUTION_COMPLETED) == 1

    run(body)


def test_duplicate_delivery_replays_every_episode_twice(tmp_path: Path) -> None:
    replays: list[int] = []

    def counted(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
        replays.append(len(context.histories))
        greeting = yield context.call_activity("greet", "you")
        return greeting

    async def body() -> None:
        async with running_engine(tmp_path / "d.db", Sequential(duplicate=True)) as engine:
            engine.orchestrators["chain"] = df.Orchestrator.create(counted)
            client = client_for(engine)
            instance_id = await client.start_new("chain", None, None)
            status = await wait_for_status(client, instance_id, DONE)
            assert status.output == "Hello you"
            await engine.wait_for_idle()
            history = engine.management.history(instance_id)
            episodes = [e["EventType"] for e in history].count(EventType.ORCHESTRATOR_STARTED)
            # Each episode ran twice over the same history: two replays of each length.
            assert len(replays) == 2 * episodes
            assert replays[0::2] == replays[1::2]

    run(body)


def test_dispatch_latency_delays_every_queue_hop(tmp_path: Path) -> None:
    async def body() -> None:
        async with running_engine(tmp_path / "d.db", FixedLatency(latency_ms=150)) as engine:
            client = client_for(engine)
            instance_id = await client.start_new("chain", None, "you")
            status = await wait_for_status(client, instance_id, DONE)
            assert status.output == ["Hello you", 42]
            history = engine.management.history(instance_id)
            hop = timedelta(milliseconds=150)
            started = parse_event_time(history[0]["Timestamp"])
            assert started - status.created_time.replace(tzinfo=started.tzinfo) >= hop - timedelta(milliseconds=5)
            for index, event in enumerate(history):
                if event["EventType"] == EventType.TASK_COMPLETED:
                    # The activity waited on its queue, and so did its completion on the orchestration's.
                    scheduled = next(e for e in history if e["EventId"] == event["TaskScheduledId"])
                    assert parse_event_time(event["Timestamp"]) - parse_event_time(scheduled["Timestamp"]) >= hop
                    episode = parse_event_time(history[index - 1]["Timestamp"])
                    assert episode - parse_event_time(event["Timestamp"]) >= hop

    run(body)
