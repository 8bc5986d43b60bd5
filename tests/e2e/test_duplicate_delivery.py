"""The core scenarios under at-least-once delivery made visible (DEVHOST_DUPLICATE_DELIVERY=1: every activity
twice, sometimes at once, every episode replayed twice), against the OpenAI-compatible test server so that every
model call is counted: a tool run, a client-side tool round trip, a cancel, and a SIGKILL with a restart.

Checked over the whole log (tests/invariants.py): contiguous ids, one terminal event per run, no output twice; and
at the server: a step that committed is never asked of the model again.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from agentstream.functions.orchestration import run_instance_id
from devhost.keys import KEYS_FILE
from tests.checks import assert_contiguous, assert_well_ordered_run, discarded_ids
from tests.e2e.test_client_tools import BOOKING, post_results, read_until_calls_end
from tests.harness import Devhost, StreamEvent
from tests.invariants import check_store
from tests.openai_server import OpenAIServer, Reply
from tests.stores.backends import BACKENDS

WEATHER_ARGS = '{"city": "Paris"}'


@pytest.fixture(scope="module")
def server() -> Iterator[OpenAIServer]:
    started = OpenAIServer().start()
    yield started
    started.stop()


@pytest.fixture
def store(tmp_path: Path) -> dict[str, str]:
    return {"EVENT_STORE": "sqlite", "EVENT_STORE_PATH": str(tmp_path / "events.db")}


def openai_env(server: OpenAIServer, store: dict[str, str]) -> dict[str, str]:
    return {
        **store,
        "DEVHOST_DUPLICATE_DELIVERY": "1",
        "MODEL_PROVIDER": "openai",
        "OPENAI_API_KEY": "test-key",
        "OPENAI_BASE_URL": server.base_url,
        "OPENAI_MODEL": "gpt-test",
        "MODEL_TIMEOUT_SECONDS": "5",
    }


@pytest.fixture
def host(server: OpenAIServer, store: dict[str, str], tmp_path: Path) -> Iterator[Devhost]:
    server.reset()
    started = Devhost(tmp_path / "data", openai_env(server, store)).start()
    yield started
    started.stop()


def durable_history(host: Devhost, started: dict[str, Any]) -> list[dict[str, Any]]:
    system_key = json.loads((host.data_dir / KEYS_FILE).read_text())["durable_system_key"]
    instance = run_instance_id(started["thread_id"], started["run_id"])
    response = requests.get(
        f"{host.url}/runtime/webhooks/durabletask/instances/{instance}",
        params={"showHistory": "true", "code": system_key},
        timeout=5,
    )
    return list(response.json()["historyEvents"])


def model_calls_per_step(server: OpenAIServer, message: str) -> list[int]:
    """How often the model was asked for each step of the run that began with `message` (by step index)."""
    steps: Counter[int] = Counter()
    for request in server.chat_requests():
        conversation = [m for m in request["messages"] if m["role"] != "system"]
        if conversation and conversation[0]["role"] == "user" and conversation[0]["content"] == message:
            steps[sum(m["role"] == "assistant" for m in conversation)] += 1
    return [steps[index] for index in range(max(steps) + 1)] if steps else []


def run_to_end(host: Devhost, message: str, **body: Any) -> tuple[dict[str, Any], list[StreamEvent]]:
    started = host.start_run(message, **body)
    return started, host.stream(started["stream_url"], timeout=60)


def test_the_core_scenarios_hold_their_invariants_under_duplicate_delivery(
    host: Devhost, server: OpenAIServer, store: dict[str, str], tmp_path: Path
) -> None:
    # A tool run: the model calls a server tool, then answers.
    tool_message = "Weather in Paris?"
    server.script(Reply(tool_calls=[("get_weather", WEATHER_ARGS)]))
    started, events = run_to_end(host, tool_message)
    assert_contiguous(events)
    assert_well_ordered_run(events)
    assert [e.type for e in events].count("TOOL_CALL_RESULT") == 1 and not discarded_ids(events)
    assert model_calls_per_step(server, tool_message) == [1, 1]
    # Every activity did run twice: the instance's history holds both completions of each.
    host.wait_idle(started["thread_id"])
    history = durable_history(host, started)
    completions = Counter(e["TaskScheduledId"] for e in history if e["EventType"] in ("TaskCompleted", "TaskFailed"))
    # Model step, tool step, model step, finish_run: the last one's second completion finds the instance over.
    assert [completions[task_id] for task_id in range(4)] in ([2, 2, 2, 1], [2, 2, 2, 2]), completions

    # A client-side tool round trip.
    client_message = "Please confirm_booking."
    server.script(Reply(tool_calls=[("confirm_booking", '{"note": "ok"}')]))
    started = host.start_run(client_message, tools=[BOOKING])
    stream = host.iter_stream(started["stream_url"], timeout=60)
    events = read_until_calls_end(stream, 1)
    [call_id] = [e.body["toolCallId"] for e in events if e.type == "TOOL_CALL_START"]
    assert post_results(host, started, {"toolCallId": call_id, "content": "confirmed"}).status_code == 202
    events += list(stream)
    assert_well_ordered_run(events)
    assert events[-1].type == "RUN_FINISHED" and not discarded_ids(events)
    assert model_calls_per_step(server, client_message) == [1, 1]

    # A cancel mid-stream.
    cancel_message = "Talk for a while."
    server.script(Reply(text=" ".join(f"word{i}" for i in range(300)), chunk_delay=0.02))
    started = host.start_run(cancel_message)
    events = []
    for event in host.iter_stream(started["stream_url"], timeout=60):
        events.append(event)
        if event.type == "TEXT_MESSAGE_CONTENT" and event.body["delta"] == "word3 ":
            assert requests.post(f"{host.url}{started['cancel_url']}", timeout=10).status_code == 202
    assert events[-1].body["outcome"] == {"type": "cancelled"}
    assert model_calls_per_step(server, cancel_message) == [1]

    # SIGKILL once the first step committed, then a restart: the first step is not asked again.
    kill_message = "Weather in Paris, after a crash?"
    server.script(Reply(tool_calls=[("get_weather", WEATHER_ARGS)]))
    started = host.start_run(kill_message)
    path = f"/api/agent/stream/{started['thread_id']}"
    before: list[StreamEvent] = []
    for event in host.iter_stream(path):
        before.append(event)
        if event.type == "TOOL_CALL_END":  # written by the commit of the first model step
            break
    host.kill()
    host.start()
    events = before + host.stream(path, headers={"Last-Event-ID": str(before[-1].id)}, timeout=60)
    assert_contiguous(events)
    assert events[-1].type == "RUN_FINISHED"
    first, *rest = model_calls_per_step(server, kill_message)
    # The second step may have been cut by the kill and redone; never more than once more.
    assert first == 1 and len(rest) == 1 and rest[0] in (1, 2)
    host.wait_idle(started["thread_id"])

    counts = check_store(BACKENDS["sqlite"](tmp_path), store)
    assert counts == {"threads": 4, "succeeded": 3, "cancelled": 1}


def test_a_tool_run_with_dispatch_latency_as_well_ends_once_and_in_order(
    server: OpenAIServer, store: dict[str, str], tmp_path: Path
) -> None:
    server.reset()
    host = Devhost(tmp_path / "data", {**openai_env(server, store), "DEVHOST_DISPATCH_LATENCY_MS": "80"}).start()
    try:
        server.script(Reply(tool_calls=[("get_weather", WEATHER_ARGS)]))
        started, events = run_to_end(host, "Weather in Paris, slowly?")
        assert_contiguous(events)
        assert_well_ordered_run(events)
        assert model_calls_per_step(server, "Weather in Paris, slowly?") == [1, 1]
        host.wait_idle(started["thread_id"])
    finally:
        host.stop()
    assert check_store(BACKENDS["sqlite"](tmp_path), store) == {"threads": 1, "succeeded": 1}
