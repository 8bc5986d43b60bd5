"""Server-Sent Events framing.

Frames use LF only and never an `event:` field, so `EventSource.onmessage` sees every event and
parsers that split on "\\n\\n" (as `@ag-ui/client` does) work. Bodies are single-line JSON.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from .events import Envelope


def event_frame(seq: int, data: str) -> str:
    return f"id: {seq}\ndata: {data}\n\n"


def envelope_frame(envelope: Envelope) -> bytes:
    """An envelope's frame as bytes, encoded once: the first stream to send it keeps it on the envelope.

    A thousand readers of one thread are handed the same envelopes by the shared tail, so they share
    one formatted and encoded frame per event instead of a thousand.
    """
    frame = envelope.sse_frame
    if frame is None:
        frame = event_frame(envelope.seq, envelope.data).encode()
        object.__setattr__(envelope, "sse_frame", frame)  # a cache, not a change: equality ignores it
    return frame


def envelope_frames(envelopes: Iterable[Envelope], *, max_bytes: int = 64 * 1024) -> Iterator[bytes]:
    """The frames of `envelopes`, joined into chunks of about `max_bytes`.

    One write per chunk instead of one per event: a reader that fell behind gets everything it
    missed in a few large writes, not one per event, and one that stops taking data holds one
    chunk, not a whole read batch. A lone frame goes out as the shared bytes themselves, uncopied;
    a frame longer than `max_bytes` is a chunk of its own.
    """
    chunk: list[bytes] = []
    size = 0
    for envelope in envelopes:
        frame = envelope_frame(envelope)
        if chunk and size + len(frame) > max_bytes:
            yield _joined(chunk)
            chunk, size = [], 0
        chunk.append(frame)
        size += len(frame)
    if chunk:
        yield _joined(chunk)


def _joined(frames: list[bytes]) -> bytes:
    return frames[0] if len(frames) == 1 else b"".join(frames)


def data_frame(data: str) -> str:
    """A frame with no id, for streams that are not a cursor over the log (the AG-UI endpoint)."""
    return f"data: {data}\n\n"


def retry_frame(milliseconds: int) -> str:
    return f"retry: {milliseconds}\n\n"


def comment_frame(text: str = "") -> str:
    return f": {text}\n\n"
