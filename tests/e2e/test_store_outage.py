"""The event store going away mid-run, over real HTTP: 503s while it is away, then the run ends with
`store_unavailable`, and nothing half-written shows.

Runs on the backends whose server the test can stop (for SQLite, tests/stores covers a locked
file at the store level).
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from agentstream.functions.orchestration import run_instance_id
from agentstream_client.sse import SSEDecoder
from devhost.keys import KEYS_FILE
from tests.checks import assert_contiguous, discarded_ids, text_by_message
from tests.harness import Devhost, StreamEvent, wait_until
from tests.stores.backends import BACKENDS, Backend

TERMINAL = ("RUN_FINISHED", "RUN_ERROR")


@pytest.fixture(params=[name for name, backend in BACKENDS.items() if not backend.reads_during_outage])
def own_backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    """A server of the test's own, so that stopping it disturbs no other test."""
    backend = BACKENDS[request.param](tmp_path / request.param)
    backend.start()
    yield backend
    backend.stop()


def finishing_has_failed(host: Devhost, thread_id: str, run_id: str) -> bool:
    """The run gave up on its steps and its first attempt to write the terminal event failed."""
    instance = run_instance_id(thread_id, run_id)
    system_key = json.loads((host.data_dir / KEYS_FILE).read_text())["durable_system_key"]
    status = requests.get(
        f"{host.url}/durabletask/instances/{instance}",
        params={"showHistory": "true", "code": system_key},
        timeout=5,
    ).json()
    return any(
        event["EventType"] == "TaskFailed" and event.get("FunctionName") == "finish_run"
        for event in status.get("historyEvents", [])
    )


def test_the_store_going_away_mid_run_ends_the_run_with_store_unavailable_once_it_is_back(
    own_backend: Backend, tmp_path: Path
) -> None:
    env = own_backend.new_env()
    host = Devhost(tmp_path / "data", {**env, "DEMO_TOKENS_PER_SECOND": "20"}, backend=own_backend).start()
    try:
        started = host.start_run("Tell me a long story, slowly.")
        path = f"/api/agent/stream/{started['thread_id']}"
        before: list[StreamEvent] = []
        for event in host.iter_stream(path):
            before.append(event)
            if event.type == "TEXT_MESSAGE_CONTENT" and len(before) >= 8:
                break
        open_stream: list[StreamEvent] = []
        connected = threading.Event()

        def follow() -> None:
            headers = {"Last-Event-ID": str(before[-1].id)}
            with requests.get(f"{host.url}{path}", headers=headers, stream=True, timeout=90) as response:
                assert response.status_code == 200
                connected.set()
                decoder = SSEDecoder()
                # A stream whose read fails while the store is away is cut off; the client resumes.
                with contextlib.suppress(requests.exceptions.ChunkedEncodingError):
                    for chunk in response.iter_content(chunk_size=None):
                        open_stream.extend(
                            StreamEvent(int(e.id or 0), json.loads(e.data)) for e in decoder.decode(chunk)
                        )

        follower = threading.Thread(target=follow)
        follower.start()
        assert connected.wait(timeout=30)

        with own_backend.outage(env):
            health = requests.get(f"{host.url}/api/health", timeout=10)
            assert health.status_code == 503 and int(health.headers["retry-after"]) > 0
            assert health.json()["store"]["reachable"] is False
            stream = requests.get(f"{host.url}{path}", timeout=10)
            assert stream.status_code == 503 and int(stream.headers["retry-after"]) > 0
            assert stream.json()["error"]["code"] == "store_unavailable"
            refused = requests.post(f"{host.url}/api/agent/run", json={"message": "hello"}, timeout=10)
            assert refused.status_code == 503 and refused.json()["error"]["code"] == "store_unavailable"
            wait_until(
                lambda: finishing_has_failed(host, started["thread_id"], started["run_id"]), timeout=60, interval=0.1
            )

        after = host.stream(path, headers={"Last-Event-ID": str(before[-1].id)}, timeout=90)
        events = before + after
        assert_contiguous(events)
        assert [e.type for e in events if e.type in TERMINAL] == ["RUN_ERROR"] and events[-1].type == "RUN_ERROR"
        assert events[-1].body["code"] == "store_unavailable"
        # The attempt the outage cut off is closed and marked discarded; none of it is a message.
        assert discarded_ids(events) and text_by_message(events) == {}
        status = host.status(started["thread_id"])
        assert [m["role"] for m in status["messages"]] == ["user"]
        [run] = status["runs"]
        assert run["status"] == "failed" and run["error"]["code"] == "store_unavailable"
        assert status["active_run_id"] is None
        assert host.stream(path) == events

        # The stream that stayed open across the outage went on or ended; it never repeated or skipped.
        follower.join(timeout=90)
        assert not follower.is_alive()
        assert open_stream == after[: len(open_stream)]
        assert requests.get(f"{host.url}/api/health", timeout=10).status_code == 200
    finally:
        host.stop()
