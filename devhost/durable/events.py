"""History events in the JSON shape the Durable extension hands to the Python SDK.

DTFx serializes ``HistoryEvent`` objects with default Newtonsoft settings: PascalCase names, ``EventType`` as an
integer and UTC timestamps ending in ``Z``. The SDK requires ``EventType``, ``EventId``, ``IsPlayed`` and
``Timestamp`` on every event and reads the extra fields by name.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from enum import IntEnum
from typing import Any

Event = dict[str, Any]

_EVENT_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


class EventType(IntEnum):
    EXECUTION_STARTED = 0
    EXECUTION_COMPLETED = 1
    EXECUTION_TERMINATED = 3
    TASK_SCHEDULED = 4
    TASK_COMPLETED = 5
    TASK_FAILED = 6
    TIMER_CREATED = 10
    TIMER_FIRED = 11
    ORCHESTRATOR_STARTED = 12
    ORCHESTRATOR_COMPLETED = 13
    EVENT_RAISED = 15


class OrchestrationStatus(IntEnum):
    """DTFx ``OrchestrationStatus`` values, as written into ``ExecutionCompleted``."""

    RUNNING = 0
    COMPLETED = 1
    CONTINUED_AS_NEW = 2
    FAILED = 3
    CANCELED = 4
    TERMINATED = 5
    PENDING = 6
    SUSPENDED = 7


def utcnow() -> datetime:
    return datetime.now(UTC)


def format_event_time(value: datetime) -> str:
    # The SDK formats naive datetimes as-is, i.e. treats them as UTC; do the same.
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime(_EVENT_TIME_FORMAT)


def parse_event_time(text: str) -> datetime:
    return datetime.strptime(text, _EVENT_TIME_FORMAT).replace(tzinfo=UTC)


def compact_json(value: Any) -> str:
    """Serialize like ``JToken.ToString(Formatting.None)``, which is how the extension stores outputs."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def make_event(event_type: EventType, when: datetime, event_id: int = -1, **fields: Any) -> Event:
    event: Event = {
        "EventType": int(event_type),
        "EventId": event_id,
        "IsPlayed": False,
        "Timestamp": format_event_time(when),
    }
    event.update(fields)
    return event


def execution_started(
    when: datetime, *, instance_id: str, execution_id: str, name: str, input_text: str | None
) -> Event:
    return make_event(
        EventType.EXECUTION_STARTED,
        when,
        OrchestrationInstance={"InstanceId": instance_id, "ExecutionId": execution_id},
        ParentInstance=None,
        Name=name,
        Version="",
        Input=input_text,
        Tags=None,
    )


def task_scheduled(when: datetime, event_id: int, *, name: str, input_text: str) -> Event:
    # DTFx wraps the single activity argument in a JSON array; see activity_input() for the reverse.
    return make_event(EventType.TASK_SCHEDULED, when, event_id, Name=name, Version="", Input=json.dumps([input_text]))


def activity_input(scheduled: Event) -> str:
    """The JSON text the worker receives for a ``TaskScheduled`` event (the extension unwraps the array)."""
    wrapped = json.loads(scheduled["Input"])
    return str(wrapped[0])


def task_completed(when: datetime, scheduled_id: int, result: str | None) -> Event:
    return make_event(EventType.TASK_COMPLETED, when, TaskScheduledId=scheduled_id, Result=result)


def task_failed(when: datetime, scheduled_id: int, reason: str, details: str) -> Event:
    return make_event(
        EventType.TASK_FAILED, when, TaskScheduledId=scheduled_id, Reason=reason, Details=details, FailureDetails=None
    )


def timer_created(when: datetime, event_id: int, fire_at: datetime) -> Event:
    return make_event(EventType.TIMER_CREATED, when, event_id, FireAt=format_event_time(fire_at))


def timer_fired(when: datetime, timer_id: int, fire_at: str) -> Event:
    return make_event(EventType.TIMER_FIRED, when, TimerId=timer_id, FireAt=fire_at)


def event_raised(when: datetime, name: str, input_text: str | None) -> Event:
    return make_event(EventType.EVENT_RAISED, when, Name=name, Input=input_text)


def execution_terminated(when: datetime, reason: str) -> Event:
    return make_event(EventType.EXECUTION_TERMINATED, when, Input=reason)


def execution_completed(when: datetime, event_id: int, status: OrchestrationStatus, result: str | None) -> Event:
    return make_event(
        EventType.EXECUTION_COMPLETED,
        when,
        event_id,
        OrchestrationStatus=int(status),
        Result=result,
        FailureDetails=None,
    )


def orchestrator_started(when: datetime) -> Event:
    return make_event(EventType.ORCHESTRATOR_STARTED, when)


def orchestrator_completed(when: datetime) -> Event:
    return make_event(EventType.ORCHESTRATOR_COMPLETED, when)


def next_event_id(history: list[Event]) -> int:
    """The per-execution decision counter: one past the highest id any decision event has taken."""
    return max((int(e["EventId"]) for e in history), default=-1) + 1


def new_execution_id() -> str:
    return uuid.uuid4().hex
