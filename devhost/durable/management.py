"""Instance management operations behind the HTTP API: start, query, raise events, terminate, suspend, purge."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING

from .. import faults
from . import events as ev
from .events import Event, EventType, OrchestrationStatus
from .history import InstanceRow
from .status import RUNNING_STATES, TERMINAL_STATES

if TYPE_CHECKING:
    from .engine import DurableEngine


class Outcome(Enum):
    ACCEPTED = "accepted"
    GONE = "gone"
    MISSING = "missing"


class StartError(Exception):
    """Raised when an instance cannot be started; ``bad_request`` tells the HTTP layer 400 rather than 500."""

    def __init__(self, message: str, *, bad_request: bool, exception_type: str) -> None:
        super().__init__(message)
        self.bad_request = bad_request
        self.exception_type = exception_type


@dataclass(frozen=True)
class Query:
    created_from: datetime | None = None
    created_to: datetime | None = None
    statuses: Collection[str] = ()
    prefix: str = ""

    def matches(self, row: InstanceRow) -> bool:
        return (
            (self.created_from is None or row.created_time >= self.created_from)
            and (self.created_to is None or row.created_time <= self.created_to)
            and (not self.statuses or row.status in self.statuses)
            and row.instance_id.startswith(self.prefix)
        )


def _check_instance_id(instance_id: str) -> None:
    if not instance_id or instance_id.startswith("@") or any(c in instance_id for c in "/\\?#"):
        raise StartError(
            f"Instance ID '{instance_id}' is invalid.", bad_request=True, exception_type="System.ArgumentException"
        )
    if any(ord(c) < 32 or ord(c) == 127 for c in instance_id):
        raise StartError(
            "Instance ID contains control characters.", bad_request=True, exception_type="System.ArgumentException"
        )


class Management:
    def __init__(self, engine: DurableEngine) -> None:
        self._engine = engine

    def get(self, instance_id: str) -> InstanceRow | None:
        return self._engine.store.get_instance(instance_id)

    def history(self, instance_id: str) -> list[Event]:
        return self._engine.store.load_history(instance_id)

    def query(self, query: Query) -> list[InstanceRow]:
        return [row for row in self._engine.store.list_instances() if query.matches(row)]

    def start(self, name: str, instance_id: str | None, input_text: str | None) -> InstanceRow:
        faults.reached("start")
        if name not in self._engine.orchestrators:
            known = ", ".join(f"'{n}'" for n in sorted(self._engine.orchestrators))
            raise StartError(
                f"The function '{name}' doesn't exist, is disabled, or is not an orchestrator function. "
                f"Additional info: The following are the known orchestrator functions: {known}.",
                bad_request=True,
                exception_type="System.ArgumentException",
            )
        instance_id = uuid.uuid4().hex if instance_id is None else instance_id
        _check_instance_id(instance_id)
        store = self._engine.store
        existing = store.get_instance(instance_id)
        if existing is not None and existing.status in RUNNING_STATES:
            raise StartError(
                f"An Orchestration instance with the status {existing.status} already exists.",
                bad_request=False,
                exception_type="DurableTask.Core.Exceptions.OrchestrationAlreadyExistsException",
            )
        now = ev.utcnow()
        row = InstanceRow(instance_id, name, ev.new_execution_id(), "Pending", input_text, None, None, now, now)
        started = ev.execution_started(
            now, instance_id=instance_id, execution_id=row.execution_id, name=name, input_text=input_text
        )
        if existing is not None:
            self._engine.work.cancel_instance(instance_id)
        with store.transaction():
            store.delete_instance(instance_id)
            store.put_instance(row)
            store.enqueue(instance_id, row.execution_id, started)
        self._engine.wake()
        return row

    def restart(self, instance_id: str, new_instance_id: bool) -> InstanceRow | None:
        row = self.get(instance_id)
        if row is None:
            return None
        return self.start(row.name, None if new_instance_id else instance_id, row.input)

    def raise_event(self, instance_id: str, name: str, input_text: str | None) -> Outcome:
        faults.reached(f"event.{name}")
        row = self.get(instance_id)
        if row is None:
            return Outcome.MISSING
        if row.status in TERMINAL_STATES:
            return Outcome.GONE
        store = self._engine.store
        with store.transaction():
            store.enqueue(instance_id, row.execution_id, ev.event_raised(ev.utcnow(), name, input_text))
        self._engine.wake()
        return Outcome.ACCEPTED

    def terminate(self, instance_id: str, reason: str) -> Outcome:
        row = self.get(instance_id)
        if row is None:
            return Outcome.MISSING
        if row.status in TERMINAL_STATES:
            return Outcome.GONE
        store = self._engine.store
        now = ev.utcnow()
        history = store.load_history(instance_id)
        events = [ev.orchestrator_started(now)]
        if not history:
            # Terminated before its first episode: keep ExecutionStarted so the history still reads correctly.
            events += [i.event for i in store.inbox(instance_id) if i.event["EventType"] == EventType.EXECUTION_STARTED]
        events += [
            ev.execution_terminated(now, reason),
            ev.execution_completed(now, ev.next_event_id(history), OrchestrationStatus.TERMINATED, reason),
            ev.orchestrator_completed(now),
        ]
        row.status = "Terminated"
        row.output = reason
        row.last_updated_time = now
        with store.transaction():
            store.clear_inbox(instance_id)
            store.append_history(instance_id, len(history), events)
            store.put_instance(row)
        self._engine.work.cancel_instance(instance_id)
        return Outcome.ACCEPTED

    def suspend(self, instance_id: str) -> Outcome:
        return self._set_suspended(instance_id, True)

    def resume(self, instance_id: str) -> Outcome:
        return self._set_suspended(instance_id, False)

    def _set_suspended(self, instance_id: str, suspended: bool) -> Outcome:
        # Suspension only parks the inbox: completions keep arriving and are replayed in order on resume.
        row = self.get(instance_id)
        if row is None:
            return Outcome.MISSING
        if row.status in TERMINAL_STATES:
            return Outcome.GONE
        if suspended:
            row.status = "Suspended"
        elif row.status == "Suspended":
            row.status = "Running" if self.history(instance_id) else "Pending"
        row.last_updated_time = ev.utcnow()
        with self._engine.store.transaction():
            self._engine.store.put_instance(row)
        self._engine.wake()
        return Outcome.ACCEPTED

    def purge(self, instance_id: str) -> bool:
        if self.get(instance_id) is None:
            return False
        self._engine.work.cancel_instance(instance_id)
        with self._engine.store.transaction():
            self._engine.store.delete_instance(instance_id)
        return True

    def purge_many(self, query: Query) -> int:
        rows = self.query(query)
        for row in rows:
            self.purge(row.instance_id)
        return len(rows)
