"""The extension's orchestration status payload (``StatusResponsePayload``) built from stored state."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from .events import Event, EventType
from .history import InstanceRow

RUNNING_STATES = frozenset({"Pending", "Running", "ContinuedAsNew", "Suspended"})
TERMINAL_STATES = frozenset({"Completed", "Failed", "Terminated", "Canceled"})

_OUTPUT_FIELDS = ("Result", "Input", "Reason", "Details")


def parse_token(text: str | None) -> Any:
    """Like the extension's ``ParseToJToken``: stored strings are JSON when they can be, else the raw string."""
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


def format_status_time(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def status_payload(
    row: InstanceRow, *, show_input: bool = True, history: list[Event] | None = None, show_history_output: bool = False
) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "name": row.name,
        "instanceId": row.instance_id,
        "runtimeStatus": row.status,
        "input": parse_token(row.input) if show_input else None,
        "customStatus": parse_token(row.custom_status),
        "output": parse_token(row.output),
        "createdTime": format_status_time(row.created_time),
        "lastUpdatedTime": format_status_time(row.last_updated_time),
    }
    if history is not None:
        payload["historyEvents"] = friendly_history(history, show_history_output)
    return payload


def friendly_history(history: list[Event], show_output: bool) -> list[dict[str, Any]]:
    """The readable history view: type names, no episode markers, completions annotated with their function."""
    scheduled = {e["EventId"]: e for e in history if e["EventType"] == EventType.TASK_SCHEDULED}
    completed_ids = {
        e["TaskScheduledId"] for e in history if e["EventType"] in (EventType.TASK_COMPLETED, EventType.TASK_FAILED)
    }
    view: list[dict[str, Any]] = []
    for event in history:
        kind = EventType(event["EventType"])
        if kind in (EventType.ORCHESTRATOR_STARTED, EventType.ORCHESTRATOR_COMPLETED):
            continue
        if kind is EventType.TASK_SCHEDULED and event["EventId"] in completed_ids:
            continue
        item = {k: v for k, v in event.items() if k not in ("EventType", "EventId", "IsPlayed")}
        item = {"EventType": _pascal(kind), **item}
        if kind in (EventType.TASK_COMPLETED, EventType.TASK_FAILED):
            origin = scheduled.get(event["TaskScheduledId"])
            if origin is not None:
                item["FunctionName"] = origin["Name"]
                item["ScheduledTime"] = origin["Timestamp"]
        if not show_output:
            for key in _OUTPUT_FIELDS:
                item.pop(key, None)
        view.append(item)
    return view


def _pascal(kind: EventType) -> str:
    return "".join(part.capitalize() for part in kind.name.split("_"))
