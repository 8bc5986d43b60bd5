"""Server-Sent Events framing.

Frames use LF only and never an `event:` field, so `EventSource.onmessage` sees every event and
parsers that split on "\\n\\n" (as `@ag-ui/client` does) work. Bodies are single-line JSON.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator


def event_frame(seq: int, data: str) -> str:
    return f"id: {seq}\ndata: {data}\n\n"


def event_frames(events: Iterable[tuple[int, str]], *, max_chars: int = 64 * 1024) -> Iterator[str]:
    """The frames of `events` (seq, data), joined into chunks of about `max_chars`.

    One write per chunk instead of one per event; a reader that stops taking data holds one chunk,
    not a whole read batch rendered as text. A frame longer than `max_chars` is a chunk of its own.
    """
    chunk: list[str] = []
    size = 0
    for seq, data in events:
        frame = event_frame(seq, data)
        if chunk and size + len(frame) > max_chars:
            yield "".join(chunk)
            chunk, size = [], 0
        chunk.append(frame)
        size += len(frame)
    if chunk:
        yield "".join(chunk)


def data_frame(data: str) -> str:
    """A frame with no id, for streams that are not a cursor over the log (the AG-UI endpoint)."""
    return f"data: {data}\n\n"


def retry_frame(milliseconds: int) -> str:
    return f"retry: {milliseconds}\n\n"


def comment_frame(text: str = "") -> str:
    return f": {text}\n\n"
