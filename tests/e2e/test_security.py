"""Auth switched on in devhost: function keys on the callers' routes, stream tokens on the readers',
CORS, size limits, the stream cap, and what never leaks (system keys, secrets, message text)."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from agentstream.functions.orchestration import run_instance_id
from agentstream.tokens import issue_stream_token
from devhost.keys import KEYS_FILE
from tests.harness import Devhost, wait_until

SECRET = "test-stream-token-secret-0123456789abcdef"
FUNCTION_KEY = "test-function-key-0123456789"
ORIGIN = "https://app.example.com"
SECRET_MESSAGE = "The vault code is swordfish-7731."
SECURE_ENV = {
    "API_AUTH": "function_key",
    "STREAM_TOKEN_SECRET": SECRET,
    "DEVHOST_FUNCTION_KEY": FUNCTION_KEY,
    "CORS_ALLOWED_ORIGINS": f"{ORIGIN}, http://localhost:3000",
    "MAX_REQUEST_BYTES": "4096",
    "MAX_MESSAGE_CHARS": "1000",
}


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Devhost]:
    started = Devhost(tmp_path_factory.mktemp("secure") / "data", SECURE_ENV).start()
    yield started
    started.stop()


def start(host: Devhost, message: str = "Hello there.", **headers: str) -> requests.Response:
    return requests.post(
        f"{host.url}/api/agent/run",
        json={"message": message},
        headers={"x-functions-key": FUNCTION_KEY, **headers},
        timeout=10,
    )


def started_run(host: Devhost, message: str = "Hello there.") -> dict[str, Any]:
    response = start(host, message)
    assert response.status_code == 202, response.text
    return dict(response.json())


def runs_and_threads(host: Devhost) -> tuple[int, int]:
    """What a start writes first; other rows may still grow from earlier runs of the module."""
    counts = host.store_counts()
    return counts["threads"], counts["runs"]


def assert_refused(response: requests.Response, status: int, code: str) -> None:
    """A JSON error and no event: a refused reader learns nothing about the thread."""
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["error"]["code"] == code
    assert "data:" not in response.text


def test_a_missing_or_wrong_function_key_is_refused_on_start_cancel_and_tool_results(host: Devhost) -> None:
    before = runs_and_threads(host)
    for headers, query in [({}, ""), ({"x-functions-key": "wrong"}, ""), ({}, "?code=wrong")]:
        response = requests.post(
            f"{host.url}/api/agent/run{query}", json={"message": "No key."}, headers=headers, timeout=10
        )
        assert response.status_code == 401, response.text
    assert runs_and_threads(host) == before

    run = started_run(host, "Keep talking for a while.")
    cancel = f"{host.url}{run['cancel_url']}"
    assert requests.post(cancel, timeout=10).status_code == 401
    assert requests.post(cancel, headers={"x-functions-key": "wrong"}, timeout=10).status_code == 401
    tool_results = f"{host.url}{run['tool_results_url']}"
    assert requests.post(tool_results, json={"results": []}, timeout=10).status_code == 401
    keyed = requests.post(tool_results, json={"results": []}, headers={"x-functions-key": FUNCTION_KEY}, timeout=10)
    assert keyed.status_code != 401
    assert requests.post(f"{cancel}?code={FUNCTION_KEY}", timeout=10).status_code in (200, 202, 409)
    by_query = requests.post(
        f"{host.url}/api/agent/run?code={FUNCTION_KEY}", json={"message": "Key in query."}, timeout=10
    )
    assert by_query.status_code == 202, by_query.text


def test_the_start_response_carries_a_stream_token_and_never_a_system_key(host: Devhost) -> None:
    response = start(host)
    assert response.status_code == 202, response.text
    body = response.json()
    token = body["stream_token"]
    assert body["stream_url"].endswith(f"&access_token={token}")
    assert response.headers["location"] == body["stream_url"]
    assert len(body["thread_id"]) == 32 and int(body["thread_id"], 16) >= 0  # 128 random bits, hex
    system_key = json.loads((host.data_dir / KEYS_FILE).read_text())["durable_system_key"]
    everything = response.text + json.dumps(dict(response.headers))
    assert system_key not in everything
    assert "code=" not in everything and "durabletask" not in everything and FUNCTION_KEY not in everything


def test_a_valid_token_streams_in_header_and_query_form(host: Devhost) -> None:
    run = started_run(host)
    by_query = host.stream(run["stream_url"])
    assert by_query[0].type == "RUN_STARTED" and by_query[-1].type == "RUN_FINISHED"
    path = f"/api/agent/stream/{run['thread_id']}"
    by_header = host.stream(path, headers={"Authorization": f"Bearer {run['stream_token']}"})
    assert by_header == by_query
    status = requests.get(
        f"{host.url}{run['status_url']}", headers={"Authorization": f"Bearer {run['stream_token']}"}, timeout=10
    )
    assert status.status_code == 200 and status.json()["last_event_id"] == by_query[-1].id


def test_forged_expired_and_other_thread_tokens_get_no_event(host: Devhost) -> None:
    run = started_run(host)
    other = started_run(host)
    thread = run["thread_id"]
    token = run["stream_token"]
    stream = f"{host.url}/api/agent/stream/{thread}"
    status = f"{host.url}/api/agent/threads/{thread}"
    cases = [
        (None, 401, "token_required"),
        (issue_stream_token("another-secret-of-enough-length-0123456789", thread, 60), 401, "invalid_token"),
        (token.replace(thread, other["thread_id"]), 401, "invalid_token"),  # re-pointed: the signature breaks
        (token[:-2] + ("AA" if not token.endswith("AA") else "BB"), 401, "invalid_token"),
        ("not-a-token", 401, "invalid_token"),
        (issue_stream_token(SECRET, thread, 60, now=time.time() - 120), 401, "token_expired"),
        (other["stream_token"], 403, "token_thread_mismatch"),
    ]
    for candidate, expected_status, code in cases:
        for url in (stream, status):
            headers = {} if candidate is None else {"Authorization": f"Bearer {candidate}"}
            assert_refused(requests.get(url, headers=headers, timeout=10), expected_status, code)
        if candidate is not None:
            assert_refused(requests.get(stream, params={"access_token": candidate}, timeout=10), expected_status, code)
    unauthorized = requests.get(stream, timeout=10)
    assert unauthorized.headers["www-authenticate"] == "Bearer"


def test_cors_preflight_answers_allowed_origins_only(host: Devhost) -> None:
    preflight_headers = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type, x-functions-key",
    }
    allowed = requests.options(f"{host.url}/api/agent/run", headers={"Origin": ORIGIN, **preflight_headers}, timeout=10)
    assert allowed.status_code == 204, allowed.text
    assert allowed.headers["access-control-allow-origin"] == ORIGIN
    assert "POST" in allowed.headers["access-control-allow-methods"]
    allowed_headers = {h.strip().lower() for h in allowed.headers["access-control-allow-headers"].split(",")}
    assert {"authorization", "last-event-id", "content-type", "x-functions-key"} <= allowed_headers
    exposed = {h.strip().lower() for h in allowed.headers["access-control-expose-headers"].split(",")}
    assert {"location", "x-thread-id"} <= exposed
    assert allowed.headers["vary"] == "Origin"

    stream_preflight = requests.options(
        f"{host.url}/api/agent/stream/{'a' * 32}",
        headers={"Origin": "http://localhost:3000", "Access-Control-Request-Method": "GET"},
        timeout=10,
    )
    assert stream_preflight.status_code == 204
    assert stream_preflight.headers["access-control-allow-origin"] == "http://localhost:3000"

    refused = requests.options(
        f"{host.url}/api/agent/run", headers={"Origin": "https://evil.example.net", **preflight_headers}, timeout=10
    )
    assert refused.status_code == 403
    assert not [name for name in refused.headers if name.lower().startswith("access-control-")]

    # The actual responses carry the origin too, and expose the headers a client reads.
    actual = start(host, Origin=ORIGIN)
    assert actual.status_code == 202
    assert actual.headers["access-control-allow-origin"] == ORIGIN
    assert "location" in actual.headers["access-control-expose-headers"].lower()
    foreign = start(host, Origin="https://evil.example.net")
    assert "access-control-allow-origin" not in foreign.headers


def test_oversized_bodies_and_messages_are_413_and_write_nothing(host: Devhost) -> None:
    before = runs_and_threads(host)
    too_big = requests.post(
        f"{host.url}/api/agent/run",
        data=json.dumps({"message": "x" * 5000}),
        headers={"x-functions-key": FUNCTION_KEY, "Content-Type": "application/json"},
        timeout=10,
    )
    assert too_big.status_code == 413 and too_big.json()["error"]["code"] == "payload_too_large"
    too_long = start(host, "y" * 1001)
    assert too_long.status_code == 413 and too_long.json()["error"]["code"] == "payload_too_large"
    assert runs_and_threads(host) == before


def test_logs_hold_no_secret_key_token_or_message_text(host: Devhost) -> None:
    run = started_run(host, SECRET_MESSAGE)
    host.stream(run["stream_url"])
    log = host.log_path.read_text()
    system_key = json.loads((host.data_dir / KEYS_FILE).read_text())["durable_system_key"]
    assert run["run_id"] in log  # the run is logged, by id
    for secret in (SECRET, FUNCTION_KEY, system_key, run["stream_token"], "swordfish"):
        assert secret not in log, secret


def test_past_the_stream_cap_a_stream_gets_503_with_retry_after(make_devhost) -> None:
    capped: Devhost = make_devhost({**SECURE_ENV, "MAX_CONCURRENT_STREAMS": "1"})
    run = started_run(capped)
    capped.stream(run["stream_url"])
    follow = f"{capped.url}/api/agent/stream/{run['thread_id']}?follow=1&access_token={run['stream_token']}"
    with requests.get(follow, stream=True, timeout=30) as first:
        assert first.status_code == 200
        second = requests.get(follow, timeout=10)
        assert_refused(second, 503, "too_many_streams")
        assert int(second.headers["retry-after"]) > 0
        start_and_stream = start(capped, Accept="text/event-stream")
        assert_refused(start_and_stream, 503, "too_many_streams")

    def slot_free() -> bool:
        with requests.get(follow, stream=True, timeout=10) as again:
            return again.status_code == 200

    # The server notices the closed connection on its own schedule.
    wait_until(slot_free, timeout=20, interval=0.2, message="the stream slot to be given back")


def test_entra_mode_requires_the_app_service_principal(make_devhost) -> None:
    entra: Devhost = make_devhost({"API_AUTH": "entra", "STREAM_TOKEN_SECRET": SECRET})
    url = f"{entra.url}/api/agent/run"
    before = entra.store_counts()
    refused = requests.post(url, json={"message": "Who am I?"}, timeout=10)
    assert_refused(refused, 401, "unauthenticated")
    garbled = requests.post(url, json={"message": "Who?"}, headers={"X-MS-CLIENT-PRINCIPAL": "%%%"}, timeout=10)
    assert_refused(garbled, 401, "unauthenticated")
    assert entra.store_counts() == before
    principal = {"auth_typ": "aad", "claims": [{"typ": "oid", "val": "00000000-0000-0000-0000-000000000001"}]}
    encoded = base64.b64encode(json.dumps(principal).encode()).decode()
    accepted = requests.post(url, json={"message": "Who am I?"}, headers={"X-MS-CLIENT-PRINCIPAL": encoded}, timeout=10)
    assert accepted.status_code == 202, accepted.text
    run = accepted.json()
    assert_refused(requests.get(f"{entra.url}/api/agent/stream/{run['thread_id']}", timeout=10), 401, "token_required")
    assert entra.stream(run["stream_url"])[-1].type == "RUN_FINISHED"


def test_the_durable_apis_refuse_requests_without_the_system_or_master_key(host: Devhost) -> None:
    run = started_run(host, "Keep talking for a while.")
    instance = run_instance_id(run["thread_id"], run["run_id"])
    keys = json.loads((host.data_dir / KEYS_FILE).read_text())
    for prefix in ("/durabletask", "/runtime/webhooks/durabletask"):
        for method, path in [
            ("GET", "/instances"),
            ("GET", f"/instances/{instance}"),
            ("POST", f"/instances/{instance}/terminate"),
            ("POST", "/orchestrators/agent_run"),
            ("GET", "/entities/x/y"),
        ]:
            for credentials in [{}, {"params": {"code": FUNCTION_KEY}}, {"headers": {"x-functions-key": "wrong"}}]:
                response = requests.request(method, f"{host.url}{prefix}{path}", timeout=10, **credentials)
                assert response.status_code == 401, (prefix, path, credentials, response.text)
                assert response.json()["error"]["code"] == "unauthorized"
        for key in (keys["durable_system_key"], keys["master_key"]):
            listed = requests.get(f"{host.url}{prefix}/instances", params={"code": key}, timeout=10)
            assert listed.status_code == 200 and isinstance(listed.json(), list)
    # The app's own SDK calls reach the engine under the binding's rpcBaseUrl: the run ends as usual.
    status_url = f"{host.url}/api/agent/threads/{run['thread_id']}"

    def finished() -> str | None:
        status = requests.get(status_url, params={"access_token": run["stream_token"]}, timeout=10).json()
        return None if status["active_run_id"] else status["runs"][-1]["status"]

    assert wait_until(finished, timeout=30) == "succeeded"
