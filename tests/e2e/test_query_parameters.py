"""Query parameters the stream and status routes do not take are refused, never ignored."""

from __future__ import annotations

import pytest
import requests

from tests.harness import Devhost


@pytest.mark.parametrize(
    ("query", "named", "hint"),
    [
        ("cursor=3", "'cursor'", "?after="),
        ("afterr=3", "'afterr'", "did you mean 'after'?"),
        ("run=x", "'run'", "did you mean 'run_id'?"),
        ("after=1&Follow=1", "'Follow'", "did you mean 'follow'?"),
    ],
)
def test_an_unknown_stream_parameter_is_a_400_naming_it(devhost: Devhost, query: str, named: str, hint: str) -> None:
    started = devhost.start_run("Parameters.")
    devhost.wait_idle(started["thread_id"])
    response = requests.get(f"{devhost.url}/api/agent/stream/{started['thread_id']}?{query}", timeout=10)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "unknown_parameter"
    assert named in error["message"] and hint in error["message"]


def test_a_repeated_cursor_is_refused_rather_than_one_of_them_picked(devhost: Devhost) -> None:
    started = devhost.start_run("Twice.")
    devhost.wait_idle(started["thread_id"])
    response = requests.get(f"{devhost.url}/api/agent/stream/{started['thread_id']}?after=1&after=2", timeout=10)
    assert response.status_code == 400
    assert response.json()["error"] == {
        "code": "invalid_query",
        "message": "Query parameter 'after' is given more than once.",
    }


def test_the_status_route_refuses_unknown_parameters_and_takes_the_known_ones(devhost: Devhost) -> None:
    started = devhost.start_run("Status.")
    devhost.wait_idle(started["thread_id"])
    url = f"{devhost.url}/api/agent/threads/{started['thread_id']}"
    refused = requests.get(f"{url}?after=2", timeout=10)
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "unknown_parameter" and "'after'" in refused.json()["error"]["message"]
    # `code` is the Functions host's key parameter, which clients may send on any route.
    assert requests.get(f"{url}?code=anything", timeout=10).status_code == 200
    stream = requests.get(f"{devhost.url}/api/agent/stream/{started['thread_id']}?after=0&follow=0", timeout=10)
    assert stream.status_code == 200
