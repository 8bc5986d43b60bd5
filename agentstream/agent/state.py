"""Shared state: one JSON object per thread that the client, the tools and every reader see alike.

The state lives in the event log, so a replay from any cursor rebuilds it:

- a run that brings `state` (AG-UI's, or the JSON API's) replaces the thread's state; every run of
  a thread that has state opens with a STATE_SNAPSHOT, after RUN_STARTED;
- a tool changes it through its `ToolContext` (`context.state`, `context.update_state(...)`); each
  update is committed with the tool's result as a STATE_DELTA (JSON Patch, RFC 6902);
- a STATE_SNAPSHOT of the state goes before every run's terminal event.

The thread's state is therefore the last run's snapshot with the deltas after it applied. Tools of
one turn run in parallel: each patches the state it read, in the order their results commit.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable
from typing import Any

import jsonpatch
from pydantic import BaseModel, ValidationError

from ..exceptions import InvalidRequest, first_problem
from ..log.events import NewEvent, now_ms
from ..log.stores.base import EventStore, ThreadInfo

State = dict[str, Any]
STATE_EVENTS = ("STATE_SNAPSHOT", "STATE_DELTA")


def snapshot_event(state: State) -> NewEvent:
    return _event("STATE_SNAPSHOT", snapshot=state)


def delta_event(patch: list[dict[str, Any]]) -> NewEvent:
    return _event("STATE_DELTA", delta=patch)


def _event(kind: str, **fields: Any) -> NewEvent:
    # Written as JSON directly: the ag_ui models drop None values, which in a state are data.
    body = {"type": kind, **fields, "timestamp": now_ms()}
    return NewEvent(kind, json.dumps(body, ensure_ascii=False, separators=(",", ":")))


def diff(before: State, after: State) -> list[dict[str, Any]]:
    patch: list[dict[str, Any]] = jsonpatch.make_patch(before, after).patch
    return patch


def fold(bodies: Iterable[dict[str, Any]], state: State | None = None) -> State | None:
    """The state after these events (None: they hold no state and none came before)."""
    for body in bodies:
        if body["type"] == "STATE_SNAPSHOT":
            state = body["snapshot"]
        elif body["type"] == "STATE_DELTA":
            state = jsonpatch.apply_patch(state or {}, body["delta"])
    return state


async def run_state(store: EventStore, thread_id: str, run_id: str, start_seq: int) -> State | None:
    """The state as it stands in a run: its opening snapshot and the deltas committed since.

    None for a run of a thread without state: its event after RUN_STARTED is no STATE_SNAPSHOT,
    which one read tells, so stateless runs never read their whole log for it.
    """
    opening = await store.read(thread_id, after=start_seq, limit=1)
    if not opening or opening[0].type != "STATE_SNAPSHOT" or opening[0].run_id != run_id:
        return None
    bodies: list[dict[str, Any]] = []
    cursor = start_seq - 1
    while batch := await store.read(thread_id, after=cursor, limit=1000):
        # Only the state events are parsed: a run's log is mostly text deltas.
        bodies += [e.body() for e in batch if e.run_id == run_id and e.type in STATE_EVENTS]
        cursor = batch[-1].seq
    return fold(bodies)


async def thread_state(store: EventStore, thread: ThreadInfo | None) -> State | None:
    """The thread's state: that of its last run (every run of a thread with state holds all of it)."""
    if thread is None or not thread.runs:
        return None
    last = thread.runs[-1]
    return await run_state(store, thread.thread_id, last.run_id, last.start_seq)


def validated(state: State, schema: type[BaseModel] | None, *, source: str) -> State:
    """`state` checked against the agent's state model, if it has one; InvalidRequest (invalid_state) if not."""
    if schema is None:
        return state
    try:
        return schema.model_validate(state).model_dump(mode="json")
    except ValidationError as exc:
        raise InvalidRequest(
            f"{source} does not fit the agent's state: {first_problem(exc, 'state')}.", code="invalid_state"
        ) from None


class StateUpdates:
    """A tool call's view of the state, and the patches its updates make, in order."""

    def __init__(self, state: State | None, schema: type[BaseModel] | None = None) -> None:
        self.exists = state is not None
        self.state: State = copy.deepcopy(state) if state is not None else {}
        self.schema = schema
        self.patches: list[list[dict[str, Any]]] = []

    def update(self, new_state: State) -> None:
        if not self.exists:
            raise RuntimeError(
                "This thread has no shared state: send 'state' with a run, or give the agent a state_type."
            )
        if not isinstance(new_state, dict):
            raise TypeError(f"The state must be a JSON object (a dict), not {type(new_state).__name__}.")
        new_state = validated(new_state, self.schema, source="The updated state")
        patch = diff(self.state, new_state)
        if patch:
            self.patches.append(patch)
            self.state = copy.deepcopy(new_state)

    def events(self) -> list[NewEvent]:
        return [delta_event(patch) for patch in self.patches]
