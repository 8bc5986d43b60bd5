"""Input an attacker or a broken client sends: every refusal is a JSON error with a code, never a 500,
and writes nothing."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from tests.harness import Devhost


@pytest.fixture(scope="module")
def idle_thread(devhost: Devhost) -> dict[str, Any]:
    """A thread whose one run has ended, so the store holds still while the refusals below arrive."""
    started = devhost.start_run("Hello there.")
    devhost.wait_idle(started["thread_id"])
    return started


def assert_json_error(response: requests.Response, status: int, code: str | None = None) -> None:
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/json"), response.headers
    error = response.json()["error"]
    assert isinstance(error["code"], str) and isinstance(error["message"], str)
    if code is not None:
        assert error["code"] == code, error


def post_raw(devhost: Devhost, path: str, body: bytes | str) -> requests.Response:
    data = body.encode() if isinstance(body, str) else body
    return requests.post(f"{devhost.url}{path}", data=data, headers={"Content-Type": "application/json"}, timeout=10)


def deeply_nested(depth: int) -> str:
    return '{"message": "hi", "state": ' + "[" * depth + "]" * depth + "}"


@pytest.mark.parametrize(
    "body",
    [
        r'{"message": "\ud800"}',
        r'{"messages": [{"role": "user", "content": "a\udfffb"}]}',
        r'{"message": "hi", "\udc00": 1}',
        '{"message": ' + "[" * 1000 + "]" * 1000 + "}",
        deeply_nested(100_000),
    ],
    ids=["lone-surrogate", "lone-low-surrogate-in-messages", "surrogate-key", "nested-1000", "nested-100000"],
)
def test_malformed_json_is_refused_on_run_agui_and_tool_results_with_nothing_written(
    devhost: Devhost, idle_thread: dict[str, Any], body: str
) -> None:
    before = devhost.store_counts()
    thread, run = idle_thread["thread_id"], idle_thread["run_id"]
    agui_body = body.replace('"message": ', '"threadId": "t-hostile", "runId": "r1", "messages": ', 1)
    tool_body = body.replace('"message": ', '"results": ', 1)
    for path, sent in [
        ("/api/agent/run", body),
        ("/api/agent/ag-ui", agui_body),
        (f"/api/agent/threads/{thread}/runs/{run}/tool-results", tool_body),
    ]:
        assert_json_error(post_raw(devhost, path, sent), 400)
    assert devhost.store_counts() == before


@pytest.mark.parametrize("cursor", ["²", "١٢", "１２", "٣", "1²", "1 2"])
def test_a_cursor_is_ascii_decimal_only(devhost: Devhost, idle_thread: dict[str, Any], cursor: str) -> None:
    stream = f"{devhost.url}/api/agent/stream/{idle_thread['thread_id']}"
    by_query = requests.get(stream, params={"after": cursor}, timeout=10)
    assert_json_error(by_query, 400, "invalid_cursor")
    # Header values travel as latin-1 bytes: '²' is the one such digit a header can carry unencoded.
    if cursor.strip().isascii() or cursor == "²":
        by_header = requests.get(stream, headers={"Last-Event-ID": cursor.encode("latin-1")}, timeout=10)
        assert_json_error(by_header, 400, "invalid_cursor")


def test_a_non_ascii_content_length_is_not_a_500(devhost: Devhost) -> None:
    response = requests.post(
        f"{devhost.url}/api/agent/run",
        data=b'{"message": "hi"}',
        headers={"Content-Type": "application/json", "Content-Length": "17²".encode("latin-1")},
        timeout=10,
    )
    assert response.status_code < 500
    if response.status_code == 202:
        devhost.wait_idle(response.json()["thread_id"])


def test_duplicate_message_ids_in_one_request_are_refused(devhost: Devhost) -> None:
    before = devhost.store_counts()
    response = requests.post(
        f"{devhost.url}/api/agent/run",
        json={
            "messages": [
                {"id": "m1", "role": "user", "content": "First."},
                {"id": "m1", "role": "user", "content": "Second, same id."},
            ]
        },
        timeout=10,
    )
    assert_json_error(response, 400, "duplicate_message_id")
    assert devhost.store_counts() == before


def test_reusing_a_message_id_of_the_thread_is_refused(devhost: Devhost) -> None:
    response = requests.post(
        f"{devhost.url}/api/agent/run",
        json={"messages": [{"id": "kept-1", "role": "user", "content": "Hello."}]},
        timeout=10,
    )
    assert response.status_code == 202, response.text
    thread = response.json()["thread_id"]
    devhost.wait_idle(thread)
    before = devhost.store_counts()
    again = requests.post(
        f"{devhost.url}/api/agent/run",
        json={"thread_id": thread, "messages": [{"id": "kept-1", "role": "user", "content": "Other text."}]},
        timeout=10,
    )
    assert_json_error(again, 400, "duplicate_message_id")
    assert devhost.store_counts() == before
    ids = [m["id"] for m in devhost.status(thread)["messages"]]
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [
        ("GET", "/api/agent/run", 405, "method_not_allowed"),
        ("PUT", "/api/agent/threads/t1", 405, "method_not_allowed"),
        ("DELETE", "/api/health", 405, "method_not_allowed"),
        ("GET", "/api/agent/nope", 404, "route_not_found"),
        ("POST", "/api/nothing/here", 404, "route_not_found"),
        ("GET", "/api/", 404, "route_not_found"),
    ],
)
def test_wrong_methods_and_unknown_routes_answer_json(
    devhost: Devhost, method: str, path: str, status: int, code: str
) -> None:
    response = requests.request(method, f"{devhost.url}{path}", timeout=10)
    assert_json_error(response, status, code)
    if status == 405:
        assert method not in response.headers["allow"]
