"""An incremental Server-Sent Events decoder, per the WHATWG parsing rules."""

from __future__ import annotations

import codecs
from collections.abc import Iterator
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ServerSentEvent:
    data: str
    id: str | None = None
    event: str = "message"


class SSEDecoder:
    """Turns a byte stream cut at arbitrary points into events, per the WHATWG parsing rules.

    Feed chunks with `decode()`; call `flush()` at end of stream (an event missing its blank line
    is not dispatched, as the spec requires). `last_event_id` follows the spec: it persists across
    events without `id:`.
    """

    def __init__(self) -> None:
        self._buffer = ""
        self._utf8 = codecs.getincrementaldecoder("utf-8")()
        self._pending_cr = False
        self._data: list[str] = []
        self._event = ""
        self._has_data = False
        self.last_event_id: str | None = None
        self.retry: int | None = None

    def decode(self, chunk: bytes | str) -> list[ServerSentEvent]:
        text = self._utf8.decode(chunk) if isinstance(chunk, bytes) else chunk
        if self._pending_cr and text.startswith("\n"):
            text = text[1:]
        self._pending_cr = text.endswith("\r")
        self._buffer += text
        events = []
        for line in self._lines():
            event = self._line(line)
            if event is not None:
                events.append(event)
        return events

    def flush(self) -> list[ServerSentEvent]:
        """End of stream: drop an event that never got its blank line."""
        self._buffer = ""
        self._data, self._event, self._has_data = [], "", False
        return []

    def _lines(self) -> Iterator[str]:
        normalized = self._buffer.replace("\r\n", "\n").replace("\r", "\n")
        *complete, self._buffer = normalized.split("\n")
        yield from complete

    def _line(self, line: str) -> ServerSentEvent | None:
        if line == "":
            return self._dispatch()
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data.append(value)
            self._has_data = True
        elif name == "id":
            if "\0" not in value:
                self.last_event_id = value
        elif name == "event":
            self._event = value
        elif name == "retry" and value.isdigit():
            self.retry = int(value)
        return None

    def _dispatch(self) -> ServerSentEvent | None:
        event = None
        if self._has_data:
            event = ServerSentEvent(data="\n".join(self._data), id=self.last_event_id, event=self._event or "message")
        self._data, self._event, self._has_data = [], "", False
        return event
