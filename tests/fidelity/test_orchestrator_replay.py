"""The agent orchestrator under the Durable SDK's own replay, fed histories recorded from real runs.

Replaying after every episode catches non-determinism: each replay must repeat exactly the actions
of the one before and only add new ones, and the activities the history scheduled must be the
ones the code asks for.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import azure.durable_functions as df
import pytest
from azure.durable_functions.models import DurableOrchestrationContext

from agentstream.functions.orchestration import bp, tool_result_event

HISTORIES = Path(__file__).with_name("histories")
DECISIONS = {1, 4, 7, 10, 14}  # ExecutionCompleted, TaskScheduled, SubOrchestrationCreated, TimerCreated, EventSent
ORCHESTRATOR_COMPLETED = 13
CALL_ACTIVITY_WITH_RETRY = 1
WAIT_FOR_EXTERNAL_EVENT = 6


def agent_run_handle() -> Any:
    [function] = [f for f in bp._function_builders if f._function.get_function_name() == "agent_run"]
    return function._function.get_user_function()


def replay(history: list[dict[str, Any]]) -> dict[str, Any]:
    handle = agent_run_handle()
    payload = {
        "history": history,
        "input": json.loads(history[1]["Input"]),
        "instanceId": history[1]["OrchestrationInstance"]["InstanceId"],
        "isReplaying": False,
        "parentInstanceId": None,
        "upperSchemaVersion": 1,
        "upperSchemaVersionNew": 2,
    }
    context = DurableOrchestrationContext.from_json(json.dumps(payload))
    context._input_expected_type = getattr(handle, "_df_input_type", None)
    return json.loads(df.Orchestrator(handle.orchestrator_function).handle(context))


def flatten(actions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    flat: list[dict[str, Any]] = []
    for action in actions:
        flat += flatten(action["compoundActions"]) if "compoundActions" in action else [action]
    return flat


def episode_contexts(history: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """What the orchestrator saw at each episode: everything before that episode's decisions."""
    contexts = []
    for end, event in enumerate(history):
        if event["EventType"] == ORCHESTRATOR_COMPLETED:
            start = end
            while history[start - 1]["EventType"] in DECISIONS:
                start -= 1
            contexts.append(history[:start])
    return contexts


SCENARIOS = ["chat", "parallel_tools", "model_failure", "cancelled", "client_tool"]
CREATE_TIMER = 5


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_replaying_after_every_episode_is_deterministic(scenario: str) -> None:
    history = json.loads((HISTORIES / f"{scenario}.json").read_text())
    previous: list[dict[str, Any]] = []
    state: dict[str, Any] = {}
    for context in episode_contexts(history):
        state = replay(context)
        # Cancelling a timer flips `isCanceled` on its earlier action: that is how the SDK cancels.
        actions = [{k: v for k, v in a.items() if k != "isCanceled"} for a in flatten(state["actions"][0])]
        assert actions[: len(previous)] == previous, "a replay changed earlier actions: non-deterministic"
        previous = actions

    [completed] = [e for e in history if e["EventType"] == 1]
    assert state["isDone"] is True
    assert state["output"] == json.loads(completed["Result"])

    scheduled = [(e["Name"], json.loads(e["Input"])[0]) for e in history if e["EventType"] == 4]
    distinct = [s for i, s in enumerate(scheduled) if i == 0 or s != scheduled[i - 1]]
    requested = [(a["functionName"], a["input"]) for a in previous if a["actionType"] in (0, 1)]
    assert distinct == requested


def test_the_recorded_runs_end_as_expected() -> None:
    outputs = {}
    for scenario in SCENARIOS:
        history = json.loads((HISTORIES / f"{scenario}.json").read_text())
        outputs[scenario] = replay(episode_contexts(history)[-1])["output"]
    finished = {"error": None, "cancelled": False, "pending": []}
    assert outputs["chat"] == finished
    assert outputs["parallel_tools"] == finished
    assert outputs["model_failure"]["error"]["code"] == "model_error"
    assert outputs["model_failure"]["cancelled"] is False
    assert outputs["cancelled"] == {**finished, "cancelled": True}
    assert outputs["client_tool"] == finished


def test_parallel_tool_calls_are_scheduled_together() -> None:
    history = json.loads((HISTORIES / "parallel_tools.json").read_text())
    contexts = episode_contexts(history)
    after_first_model_step = flatten(replay(contexts[1])["actions"][0])
    activities = [a for a in after_first_model_step if a["actionType"] != WAIT_FOR_EXTERNAL_EVENT]
    assert [a["functionName"] for a in activities] == ["model_step", "tool_step", "tool_step"]
    assert all(a["actionType"] == CALL_ACTIVITY_WITH_RETRY for a in activities)
    # Every wait races the cancel event.
    waits = [a for a in after_first_model_step if a["actionType"] == WAIT_FOR_EXTERNAL_EVENT]
    assert waits and all(a["externalEventName"] == "cancel" for a in waits)


def test_a_client_tool_call_waits_for_its_result_raced_with_cancel_and_a_timer() -> None:
    history = json.loads((HISTORIES / "client_tool.json").read_text())
    contexts = episode_contexts(history)
    waiting = flatten(replay(contexts[1])["actions"][0])
    [call] = json.loads(next(e["Result"] for e in history if e["EventType"] == 5))["toolCalls"]
    waits = [a["externalEventName"] for a in waiting if a["actionType"] == WAIT_FOR_EXTERNAL_EVENT]
    assert waits == ["cancel", tool_result_event(call["id"])]
    [timer] = [a for a in waiting if a["actionType"] == CREATE_TIMER]
    assert timer["isCanceled"] is False
    # Once the result is in, the timer is cancelled and the next model step is asked for.
    answered = flatten(replay(contexts[2])["actions"][0])
    assert [a for a in answered if a["actionType"] == CREATE_TIMER][0]["isCanceled"] is True
    assert [a["functionName"] for a in answered if a["actionType"] == CALL_ACTIVITY_WITH_RETRY][-1] == "model_step"
