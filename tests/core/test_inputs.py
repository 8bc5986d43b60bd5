from __future__ import annotations

import pytest

from agentstream.http.inputs import preferred_media_type

RUN_OFFERS = ("application/json", "text/event-stream", "text/plain")


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        ("", "application/json"),
        ("*/*", "application/json"),
        ("application/json, text/plain, */*", "application/json"),  # axios' default
        ("text/event-stream", "text/event-stream"),
        ("text/plain", "text/plain"),
        ("text/plain;q=0.5, text/event-stream", "text/event-stream"),
        ("text/event-stream;q=0.2, application/json;q=0.9", "application/json"),
        ("TEXT/EVENT-STREAM", "text/event-stream"),
        ("text/html, text/plain;q=bogus", "application/json"),
    ],
)
def test_the_preferred_media_type_follows_the_accept_header(accept: str, expected: str) -> None:
    assert preferred_media_type(accept, RUN_OFFERS) == expected
