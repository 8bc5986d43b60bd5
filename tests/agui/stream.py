"""Posting to the AG-UI endpoint and reading its frames exactly as they come."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import requests

from tests.harness import Devhost

AGUI_PATH = "/api/agent/ag-ui"


def post(host: Devhost, body: Any, path: str = AGUI_PATH, **kwargs: Any) -> requests.Response:
    return requests.post(f"{host.url}{path}", json=body, timeout=60, **kwargs)


def iter_events(host: Devhost, body: Any, path: str = AGUI_PATH) -> Iterator[dict[str, Any]]:
    """Each AG-UI event of the response, checking the framing on the way: `data: <json>` then a
    blank line, LF only, no other fields (heartbeat comments allowed)."""
    with post(host, body, path, stream=True) as response:
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].split(";")[0] == "text/event-stream"
        buffer = b""
        for chunk in response.iter_content(chunk_size=None):
            assert b"\r" not in chunk
            buffer += chunk
            *frames, buffer = buffer.split(b"\n\n")
            for frame in frames:
                if frame.startswith(b": "):
                    continue
                assert frame.startswith(b"data: ") and b"\n" not in frame, frame
                yield json.loads(frame[len(b"data: ") :])
        assert buffer == b"", buffer


def events(host: Devhost, body: Any, path: str = AGUI_PATH) -> list[dict[str, Any]]:
    return list(iter_events(host, body, path))


def types(events: list[dict[str, Any]]) -> list[str]:
    return [event["type"] for event in events]


def texts(events: list[dict[str, Any]]) -> dict[str, str]:
    """Text per message id, as a client concatenates it."""
    out: dict[str, str] = {}
    for event in events:
        if event["type"] == "TEXT_MESSAGE_CONTENT":
            out[event["messageId"]] = out.get(event["messageId"], "") + event["delta"]
    return out


def read_until_contents(host: Devhost, body: Any, count: int) -> list[dict[str, Any]]:
    """Start a run and drop the connection after `count` text deltas: the run goes on without us."""
    seen: list[dict[str, Any]] = []
    for event in iter_events(host, body):
        seen.append(event)
        if types(seen).count("TEXT_MESSAGE_CONTENT") == count:
            break
    return seen
