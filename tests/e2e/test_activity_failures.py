"""An activity that fails with StoreUnavailable reaches the orchestrator wrapped the way the Functions host and the
Durable extension wrap it (with its traceback); the run still ends with `store_unavailable`, and no stack
trace or file path reaches a client."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from agentstream.functions.orchestration import run_instance_id
from devhost.keys import KEYS_FILE
from tests.harness import ROOT, Devhost

# A traceback's frames, or any absolute path with a file name in it.
LEAKS = re.compile(r"Traceback|Stack:|File \"|(?:/[\w.-]+)+\.(?:py|db)\b")


def durable_history(host: Devhost, started: dict[str, str]) -> list[dict[str, Any]]:
    system_key = json.loads((host.data_dir / KEYS_FILE).read_text())["durable_system_key"]
    instance = run_instance_id(started["thread_id"], started["run_id"])
    status = requests.get(
        f"{host.url}/runtime/webhooks/durabletask/instances/{instance}",
        params={"showHistory": "true", "showHistoryOutput": "true", "code": system_key},
        timeout=5,
    )
    return list(status.json()["historyEvents"])


@pytest.fixture
def host(tmp_path) -> Iterator[Devhost]:
    started = Devhost(tmp_path / "data", {"STEP_MAX_ATTEMPTS": "2"}, app="tests.e2e.store_failure_app").start()
    yield started
    started.stop()


def test_a_step_failing_with_store_unavailable_ends_the_run_with_that_code_and_no_traceback(host: Devhost) -> None:
    response = requests.post(f"{host.url}/api/agent/run", json={"message": "Hello there"}, timeout=10)
    assert response.status_code == 202, response.text
    started = response.json()
    stream = requests.get(f"{host.url}{started['stream_url']}", timeout=30)
    assert stream.status_code == 200
    events = host.stream(started["stream_url"])
    terminal = [e for e in events if e.type in ("RUN_FINISHED", "RUN_ERROR")]
    assert [(e.type, e.body["code"]) for e in terminal] == [("RUN_ERROR", "store_unavailable")]
    assert terminal[0].body["message"] == "The event store became unavailable during the run."
    status = requests.get(f"{host.url}/api/agent/threads/{started['thread_id']}", timeout=10)
    assert status.json()["runs"][0]["error"]["code"] == "store_unavailable"
    # What the orchestrator received: the host's text, traceback and all.
    [reason] = [e["Reason"] for e in durable_history(host, started) if e["EventType"] == "TaskFailed"][-1:]
    assert reason.startswith("Activity function 'model_step' failed: Result: Failure\nException: StoreUnavailable: ")
    assert "\nStack: Traceback (most recent call last):" in reason
    for body in (response.text, stream.text, status.text):
        assert LEAKS.search(body) is None, LEAKS.search(body)
        assert str(ROOT) not in body and str(host.data_dir) not in body
