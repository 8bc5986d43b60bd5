"""One orchestrator episode: replay the SDK over the history plus one new event and turn what it asks for into
the decision events DTFx would write.

Sequence numbers come from the SDK's own bookkeeping (``ctx.open_tasks``), which mirrors DTFx's per-execution
counter, including the hidden retry timers and rescheduled attempts of ``call_*_with_retry`` that never appear as
actions in the returned state.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from azure.durable_functions import DurableOrchestrationContext, Orchestrator
from azure.durable_functions.models.actions.CallActivityAction import CallActivityAction
from azure.durable_functions.models.actions.CallActivityWithRetryAction import CallActivityWithRetryAction
from azure.durable_functions.models.actions.CreateTimerAction import CreateTimerAction
from azure.durable_functions.models.actions.NoOpAction import NoOpAction
from azure.durable_functions.models.Task import RetryAbleTask, TaskBase, TimerTask

from . import events as ev
from .determinism import NonDeterminism, check_replay, record_numbered_tasks
from .events import Event, EventType, OrchestrationStatus

_ERROR_LABEL = "\n\n$OutOfProcData$:"
_RETRY_TIMER = "-WithRetry timer"
_RESCHEDULED = "rescheduled task"
_UNSUPPORTED_ACTIONS = {
    2: "sub-orchestrations (call_sub_orchestrator)",
    3: "sub-orchestrations (call_sub_orchestrator_with_retry)",
    7: "durable entities (call_entity)",
    8: "durable HTTP calls (call_http)",
    9: "durable entities (signal_entity)",
}
_CONTINUE_AS_NEW = 4


class OrchestratorHandle(Protocol):
    """What DFApp registers for an orchestration trigger: ``Orchestrator.create(fn)``'s ``handle``."""

    orchestrator_function: Callable[[DurableOrchestrationContext], Any]

    def __call__(self, context: Any) -> str: ...


@dataclass(frozen=True)
class ActivityRequest:
    task_id: int
    name: str
    input_text: str


@dataclass(frozen=True)
class TimerRequest:
    timer_id: int
    fire_at: str


@dataclass
class EpisodeResult:
    """What the engine must commit (``events`` appended to history, status fields) and then set in motion."""

    status: str
    events: list[Event]
    activities: list[ActivityRequest] = field(default_factory=list)
    timers: list[TimerRequest] = field(default_factory=list)
    canceled_timers: list[int] = field(default_factory=list)
    output: str | None = None
    custom_status: str | None = None
    continue_input: str | None = None
    orchestrator_state: dict[str, Any] = field(default_factory=dict)
    """What the SDK's ``handle`` returned (or carried in its error): the actions the decisions were made from."""


class _EpisodeFailure(Exception):
    """An orchestrator problem that fails the instance (the message is the extension-style error text)."""


def run_episode(
    *,
    name: str,
    instance_id: str,
    handle_fn: OrchestratorHandle,
    history: list[Event],
    new_event: Event,
    now: datetime,
    activity_names: Collection[str],
) -> EpisodeResult:
    """Run ``handle_fn`` (the DFApp-registered orchestrator ``handle``) for one new event."""
    replay = [_as_played(e) for e in history] + [ev.orchestrator_started(now), dict(new_event, IsPlayed=False)]
    started = replay[1]
    payload = {
        "history": replay,
        "input": None if started.get("Input") is None else json.loads(started["Input"]),
        "instanceId": instance_id,
        "isReplaying": started["IsPlayed"],
        "parentInstanceId": None,
        "upperSchemaVersion": 1,
        "upperSchemaVersionNew": 2,
    }
    head = replay[len(history) :]
    ctx = DurableOrchestrationContext.from_json(json.dumps(payload))
    ctx._input_expected_type = getattr(handle_fn, "_df_input_type", None)
    next_id = ev.next_event_id(history)
    numbered = record_numbered_tasks(ctx)
    state: dict[str, Any] = {}
    try:
        with warnings.catch_warnings():
            # Early external events and duplicate completions make the SDK warn; both are normal paths.
            warnings.simplefilter("ignore")
            state = json.loads(Orchestrator(handle_fn.orchestrator_function).handle(ctx))
        check_replay(history, numbered)
        _reject_unsupported(state)
        result = _decide(state, ctx, next_id, now, activity_names)
    except NonDeterminism as exc:
        result = _failed(str(exc), state.get("customStatus"), head, next_id, now)
    except _EpisodeFailure as exc:
        result = _failed(_orchestrator_failed(name, str(exc)), state.get("customStatus"), head, next_id, now)
    except Exception as exc:
        state = _sdk_error_state(str(exc))
        try:
            # DTFx matches the history to the actions before it fails the instance with the orchestrator's error.
            check_replay(history, numbered)
        except NonDeterminism as mismatch:
            error = str(mismatch)
        else:
            error = _orchestrator_failed(name, str(state["error"]))
        result = _failed(error, state.get("customStatus"), head, next_id, now)
    else:
        result.events[:0] = head
    result.orchestrator_state = state
    return result


def _as_played(event: Event) -> Event:
    # DTFx marks every processed event as played except OrchestratorStarted.
    return dict(event, IsPlayed=event["EventType"] != EventType.ORCHESTRATOR_STARTED)


def _sdk_error_state(message: str) -> dict[str, Any]:
    """The SDK raises ``"<error>\\n\\n$OutOfProcData$:<state json>"``; the state carries the error and custom status."""
    _, label, data = message.partition(_ERROR_LABEL)
    state: dict[str, Any] = json.loads(data) if label else {}
    state.setdefault("error", message)
    return state


def _flatten(actions: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for action in actions:
        yield action
        yield from _flatten(action.get("compoundActions") or [])


def _reject_unsupported(state: dict[str, Any]) -> None:
    for action in _flatten(state["actions"][0] if state.get("actions") else []):
        kind = _UNSUPPORTED_ACTIONS.get(action.get("actionType", -1))
        if kind is not None:
            raise _EpisodeFailure(f"devhost does not support {kind}; only activities, timers and external events.")


def _decide(
    state: dict[str, Any],
    ctx: DurableOrchestrationContext,
    next_id: int,
    now: datetime,
    activity_names: Collection[str],
) -> EpisodeResult:
    custom_status = None if state.get("customStatus") is None else ev.compact_json(state["customStatus"])
    result = EpisodeResult(status="Running", events=[], custom_status=custom_status)
    counter = next_id
    for task_id, task in sorted(_numbered_tasks(ctx)):
        if task_id < next_id:
            if isinstance(task, TimerTask) and task.is_cancelled:
                result.canceled_timers.append(task_id)
            continue
        _schedule(task_id, task, now, activity_names, result)
        counter = task_id + 1
    if not state.get("isDone"):
        result.events.append(ev.orchestrator_completed(now))
        return result
    continued = [a for a in _flatten(state["actions"][0]) if a.get("actionType") == _CONTINUE_AS_NEW]
    if continued:
        result.status = "ContinuedAsNew"
        result.continue_input = json.dumps(continued[-1]["input"])
        return result
    result.status = "Completed"
    result.output = None if state.get("output") is None else ev.compact_json(state["output"])
    result.events.append(ev.execution_completed(now, counter, OrchestrationStatus.COMPLETED, result.output))
    result.events.append(ev.orchestrator_completed(now))
    return result


def _numbered_tasks(ctx: DurableOrchestrationContext) -> Iterator[tuple[int, TaskBase]]:
    # String keys are external-event waiters, which take no sequence number.
    for key, entry in ctx.open_tasks.items():
        if isinstance(key, int):
            for task in entry if isinstance(entry, list) else [entry]:
                yield key, task


def _schedule(
    task_id: int, task: TaskBase, now: datetime, activity_names: Collection[str], result: EpisodeResult
) -> None:
    action = task.action_repr[0] if isinstance(task.action_repr, list) else task.action_repr
    if isinstance(action, NoOpAction) and isinstance(task.parent, RetryAbleTask):
        retry = task.parent
        if action.metadata == _RETRY_TIMER:
            # DTFx's RetryInterceptor still creates a zero-delay timer after the last failed attempt.
            exhausted = retry.num_attempts >= retry.retry_options.max_number_of_attempts
            delay_ms = 0 if exhausted else retry.retry_options.first_retry_interval_in_milliseconds
            delay = timedelta(milliseconds=delay_ms)
            _add_timer(task_id, now + delay, now, result)
            return
        if action.metadata == _RESCHEDULED:
            action = retry.actions
    if isinstance(action, CallActivityAction | CallActivityWithRetryAction):
        if action.function_name not in activity_names:
            raise _EpisodeFailure(
                f"The function '{action.function_name}' doesn't exist, is disabled, or is not an activity function."
            )
        result.events.append(ev.task_scheduled(now, task_id, name=action.function_name, input_text=action.input_))
        result.activities.append(ActivityRequest(task_id, action.function_name, action.input_))
    elif isinstance(action, CreateTimerAction):
        _add_timer(task_id, action.fire_at, now, result, armed=not action.is_cancelled)
    else:
        raise _EpisodeFailure(f"devhost cannot schedule the orchestrator action {type(action).__name__}.")


def _add_timer(task_id: int, fire_at: datetime, now: datetime, result: EpisodeResult, *, armed: bool = True) -> None:
    event = ev.timer_created(now, task_id, fire_at)
    result.events.append(event)
    if armed:
        result.timers.append(TimerRequest(task_id, event["FireAt"]))


def _orchestrator_failed(name: str, error: str) -> str:
    return f"Orchestrator function '{name}' failed: {error}"


def _failed(output: str, custom_status: Any, head: list[Event], next_id: int, now: datetime) -> EpisodeResult:
    return EpisodeResult(
        status="Failed",
        events=[
            *head,
            ev.execution_completed(now, next_id, OrchestrationStatus.FAILED, output),
            ev.orchestrator_completed(now),
        ],
        output=output,
        custom_status=None if custom_status is None else ev.compact_json(custom_status),
    )
