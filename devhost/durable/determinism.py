"""Non-determinism detection: a replay must ask again for every task the history says was scheduled.

The Durable extension re-issues the orchestrator's actions through DTFx, which matches every decision event of the
history to the action with the same sequence number and fails the instance when the kind differs, the activity's
name differs (case-insensitively) or the action is missing (``TaskOrchestrationContext.HandleTaskScheduledEvent``,
``HandleTimerCreatedEvent``). Inputs are not compared. The failure is the instance's output, with DTFx's
``NonDeterministicOrchestrationException`` text.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from azure.durable_functions import DurableOrchestrationContext
from azure.durable_functions.models.actions.CallActivityAction import CallActivityAction
from azure.durable_functions.models.actions.CallActivityWithRetryAction import CallActivityWithRetryAction
from azure.durable_functions.models.actions.CallEntityAction import CallEntityAction
from azure.durable_functions.models.actions.CallHttpAction import CallHttpAction
from azure.durable_functions.models.actions.CallSubOrchestratorAction import CallSubOrchestratorAction
from azure.durable_functions.models.actions.CallSubOrchestratorWithRetryAction import (
    CallSubOrchestratorWithRetryAction,
)
from azure.durable_functions.models.actions.CreateTimerAction import CreateTimerAction
from azure.durable_functions.models.actions.NoOpAction import NoOpAction
from azure.durable_functions.models.actions.SignalEntityAction import SignalEntityAction
from azure.durable_functions.models.Task import AtomicTask, RetryAbleTask, TaskBase

from .events import Event, EventType

PREFIX = "Non-Deterministic workflow detected: "
_CHANGED = "Was a change made to the orchestrator code after this instance had already started running?"
_RETRY_TIMER = "-WithRetry timer"
_RESCHEDULED = "rescheduled task"
# What DTFx calls the action a replayed SDK action becomes (the .NET class names appear in its messages).
_SCHEDULE_TASK = "ScheduleTaskOrchestratorAction"
_CREATE_TIMER = "CreateTimerOrchestratorAction"
_SUB_ORCHESTRATION = "CreateSubOrchestrationAction"
_SEND_EVENT = "SendEventOrchestratorAction"


class NonDeterminism(Exception):
    """The replay's decisions differ from the history; ``str()`` is the instance's failure output."""

    def __init__(self, detail: str) -> None:
        super().__init__(PREFIX + detail)


def record_numbered_tasks(ctx: DurableOrchestrationContext) -> dict[int, TaskBase]:
    """Every task the replay gives a sequence number, by number, including those already completed.

    The SDK forgets completed tasks (``open_tasks`` only keeps waiting ones), so the numbering is recorded as it
    happens, by wrapping the context's own bookkeeping.
    """
    numbered: dict[int, TaskBase] = {}
    add: Callable[[TaskBase], None] = ctx._add_to_open_tasks

    def recording(task: TaskBase) -> None:
        add(task)
        if isinstance(task, AtomicTask) and isinstance(task.id, int) and task.id >= 0:
            numbered.setdefault(task.id, task)

    ctx._add_to_open_tasks = recording
    return numbered


def check_replay(history: Iterable[Event], numbered: dict[int, TaskBase]) -> None:
    """Raise ``NonDeterminism`` at the first decision event of ``history`` the replay did not make again."""
    for event in history:
        kind = event["EventType"]
        if kind == EventType.TASK_SCHEDULED:
            _check_task_scheduled(event, numbered.get(int(event["EventId"])))
        elif kind == EventType.TIMER_CREATED:
            _check_timer_created(event, numbered.get(int(event["EventId"])))


def _check_task_scheduled(event: Event, task: TaskBase | None) -> None:
    task_id, name = event["EventId"], event["Name"]
    if task is None:
        raise NonDeterminism(
            f"A previous execution of this orchestration scheduled an activity task with sequence ID {task_id} and "
            f"name '{name}' (version '{event.get('Version') or ''}'), but the current replay execution hasn't (yet?) "
            f"scheduled this task. {_CHANGED}"
        )
    kind, replayed_name = _replayed(task)
    if kind != _SCHEDULE_TASK:
        raise NonDeterminism(
            f"A previous execution of this orchestration scheduled an activity task with sequence number {task_id} "
            f"named '{name}', but the current orchestration replay instead produced a {kind} action with this "
            f"sequence number. {_CHANGED}"
        )
    if replayed_name.casefold() != str(name).casefold():
        raise NonDeterminism(
            f"A previous execution of this orchestration scheduled an activity task with sequence number {task_id} "
            f"named '{name}', but the current orchestration replay instead scheduled an activity task named "
            f"'{replayed_name}' with this sequence number.  {_CHANGED}"
        )


def _check_timer_created(event: Event, task: TaskBase | None) -> None:
    task_id = event["EventId"]
    if task is None:
        raise NonDeterminism(
            f"A previous execution of this orchestration scheduled a timer task with sequence number {task_id} but "
            f"the current replay execution hasn't (yet?) scheduled this task. {_CHANGED}"
        )
    kind, _ = _replayed(task)
    if kind != _CREATE_TIMER:
        raise NonDeterminism(
            f"A previous execution of this orchestration scheduled a timer task with sequence number {task_id} named "
            f"but the current orchestration replay instead produced a {kind} action with this sequence number. "
            f"{_CHANGED}"
        )


def _replayed(task: TaskBase) -> tuple[str, str]:
    """The DTFx action kind a replayed task becomes, and the function it names."""
    action: Any = task.action_repr[0] if isinstance(task.action_repr, list) else task.action_repr
    if isinstance(action, NoOpAction) and isinstance(task.parent, RetryAbleTask):
        if action.metadata == _RETRY_TIMER:
            return _CREATE_TIMER, ""
        if action.metadata == _RESCHEDULED:
            action = task.parent.actions
    if isinstance(action, CallActivityAction | CallActivityWithRetryAction):
        return _SCHEDULE_TASK, str(action.function_name)
    if isinstance(action, CallHttpAction):
        return _SCHEDULE_TASK, "BuiltIn::HttpActivity"
    if isinstance(action, CreateTimerAction):
        return _CREATE_TIMER, ""
    if isinstance(action, CallSubOrchestratorAction | CallSubOrchestratorWithRetryAction):
        return _SUB_ORCHESTRATION, str(action.function_name)
    if isinstance(action, CallEntityAction | SignalEntityAction):
        return _SEND_EVENT, str(action.operation)
    return type(action).__name__, ""
