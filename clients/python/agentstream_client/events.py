"""The events a client reads: an AG-UI event with its id in the thread's log."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from ag_ui.core import BaseEvent, Event
from pydantic import TypeAdapter, ValidationError

from .errors import ProtocolError

_EVENT = TypeAdapter[BaseEvent](Event)


@dataclass(frozen=True, slots=True)
class StreamEvent:
    """One event of a thread's stream.

    `id` is its place in the thread's log (what `Last-Event-ID` resumes after), `data` the raw JSON
    as the server sent it, `body` that JSON as a dict, and `event` the typed AG-UI model (None for
    an event type this client does not know).
    """

    id: int
    data: str
    body: dict[str, Any] = field(repr=False)
    event: BaseEvent | None = field(repr=False)

    @property
    def type(self) -> str:
        return str(self.body.get("type", ""))

    @classmethod
    def parse(cls, event_id: int, data: str) -> StreamEvent:
        try:
            body = json.loads(data)
        except json.JSONDecodeError as exc:
            raise ProtocolError(f"Event {event_id} is not JSON: {exc.msg} at position {exc.pos}.") from exc
        if not isinstance(body, dict) or "type" not in body:
            raise ProtocolError(f"Event {event_id} is not an AG-UI event (no 'type'): {data[:200]}")
        try:
            event: BaseEvent | None = _EVENT.validate_python(body)
        except ValidationError:
            event = None
        return cls(event_id, data, body, event)
