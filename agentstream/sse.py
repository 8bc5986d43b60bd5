"""Server-Sent Events framing.

Frames use LF only and never an `event:` field, so `EventSource.onmessage` sees every event and
parsers that split on "\\n\\n" (as `@ag-ui/client` does) work. Bodies are single-line JSON.
"""

from __future__ import annotations


def event_frame(seq: int, data: str) -> str:
    return f"id: {seq}\ndata: {data}\n\n"


def data_frame(data: str) -> str:
    """A frame with no id, for streams that are not a cursor over the log (the AG-UI endpoint)."""
    return f"data: {data}\n\n"


def retry_frame(milliseconds: int) -> str:
    return f"retry: {milliseconds}\n\n"


def comment_frame(text: str = "") -> str:
    return f": {text}\n\n"
