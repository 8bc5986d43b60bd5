"""An orchestrator changed while an instance is in flight: the next replay's decisions differ from the history, and
the engine fails the instance with DTFx's non-determinism text, as the Durable extension does."""

from __future__ import annotations

from collections.abc import Callable, Generator
from datetime import timedelta
from pathlib import Path
from typing import Any

import azure.durable_functions as df
import pytest

from devhost.durable.events import EventType
from tests.devhost import sample_app
from tests.devhost.harness import client_for, run, running_engine, wait_for_status, wait_until

Orchestrator = Callable[[df.DurableOrchestrationContext], Generator[Any, Any, Any]]


def calls_another_activity(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    return (yield context.call_activity("greet", context.get_input()))


def calls_the_same_activity_in_other_case(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    return (yield context.call_activity("BLOCKING", context.get_input()))


def waits_for_an_event_first(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    return (yield context.wait_for_external_event("go"))


def sleeps_instead(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    yield context.create_timer(context.current_utc_datetime + timedelta(minutes=1))
    return "woke"


def calls_with_other_input(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    return (yield context.call_activity("blocking", "something else"))


CHANGED = "Was a change made to the orchestrator code after this instance had already started running?"


@pytest.mark.parametrize(
    ("replacement", "output"),
    [
        (
            calls_another_activity,
            "Non-Deterministic workflow detected: A previous execution of this orchestration scheduled an activity "
            "task with sequence number 0 named 'blocking', but the current orchestration replay instead scheduled an "
            f"activity task named 'greet' with this sequence number.  {CHANGED}",
        ),
        (
            waits_for_an_event_first,
            "Non-Deterministic workflow detected: A previous execution of this orchestration scheduled an activity "
            "task with sequence ID 0 and name 'blocking' (version ''), but the current replay execution hasn't "
            f"(yet?) scheduled this task. {CHANGED}",
        ),
        (
            sleeps_instead,
            "Non-Deterministic workflow detected: A previous execution of this orchestration scheduled an activity "
            "task with sequence number 0 named 'blocking', but the current orchestration replay instead produced a "
            f"CreateTimerOrchestratorAction action with this sequence number. {CHANGED}",
        ),
    ],
    ids=["other activity", "no activity", "a timer"],
)
def test_a_replay_that_decides_differently_fails_the_instance(
    tmp_path: Path, replacement: Orchestrator, output: str
) -> None:
    async def body() -> None:
        async with running_engine(tmp_path / "d.db") as engine:
            client = client_for(engine)
            instance_id = await client.start_new("waits_on_blocking", None, "v")
            await wait_until(lambda: sample_app.BLOCKING_CALLS == ["v"])
            # A deploy between two episodes: the next replay runs the new code over the old history.
            engine.orchestrators["waits_on_blocking"] = df.Orchestrator.create(replacement)
            sample_app.GATE["open"] = True
            status = await wait_for_status(client, instance_id, {"Completed", "Failed"})
            assert status.runtime_status.value == "Failed"
            assert status.output == output
            history = engine.management.history(instance_id)
            kinds = [e["EventType"] for e in history]
            assert kinds[-4:] == [
                EventType.ORCHESTRATOR_STARTED,
                EventType.TASK_COMPLETED,
                EventType.EXECUTION_COMPLETED,
                EventType.ORCHESTRATOR_COMPLETED,
            ]
            # Nothing the new code asked for was scheduled.
            assert kinds.count(EventType.TASK_SCHEDULED) == 1 and EventType.TIMER_CREATED not in kinds

    run(body)


@pytest.mark.parametrize(
    "replacement", [calls_the_same_activity_in_other_case, calls_with_other_input], ids=["name case", "input"]
)
def test_what_dtfx_does_not_compare_replays_as_before(tmp_path: Path, replacement: Orchestrator) -> None:
    async def body() -> None:
        async with running_engine(tmp_path / "d.db") as engine:
            client = client_for(engine)
            instance_id = await client.start_new("waits_on_blocking", None, "v")
            await wait_until(lambda: sample_app.BLOCKING_CALLS == ["v"])
            engine.orchestrators["waits_on_blocking"] = df.Orchestrator.create(replacement)
            sample_app.GATE["open"] = True
            status = await wait_for_status(client, instance_id, {"Completed", "Failed"})
            assert (status.runtime_status.value, status.output) == ("Completed", "unblocked v")

    run(body)
