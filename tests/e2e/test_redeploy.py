"""A release that changes the orchestrator's decisions, deployed while a run waits: the instance fails as the
Durable extension fails it (non-determinism), and the run ends with exactly one RUN_ERROR."""

from __future__ import annotations

import json
from pathlib import Path

import requests

from agentstream.functions.orchestration import run_instance_id
from devhost.keys import KEYS_FILE
from tests.e2e.test_client_tools import BOOKING, post_results, read_until_calls_end, start
from tests.harness import Devhost, wait_until
from tests.invariants import check_store
from tests.stores.backends import BACKENDS

APP = "tests.e2e.redeploy_app"


def instance_status(host: Devhost, thread_id: str, run_id: str) -> dict[str, object]:
    system_key = json.loads((host.data_dir / KEYS_FILE).read_text())["durable_system_key"]
    response = requests.get(
        f"{host.url}/runtime/webhooks/durabletask/instances/{run_instance_id(thread_id, run_id)}",
        params={"code": system_key},
        timeout=5,
    )
    return dict(response.json())


def test_a_release_that_decides_differently_fails_the_waiting_run_with_one_run_error(tmp_path: Path) -> None:
    data = tmp_path / "data"
    store = {"EVENT_STORE": "sqlite", "EVENT_STORE_PATH": str(tmp_path / "events.db")}
    first = Devhost(data, store, app=APP).start()
    try:
        started = start(first, {"message": "Please confirm_booking.", "tools": [BOOKING]})
        events = read_until_calls_end(first.iter_stream(started["stream_url"]), 1)
        [call_id] = [e.body["toolCallId"] for e in events if e.type == "TOOL_CALL_START"]
    finally:
        first.stop()
    second = Devhost(data, {**store, "REDEPLOYED": "1"}, app=APP).start()
    try:
        # The answer wakes the instance: its replay runs the new release over the first one's history.
        assert post_results(second, started, {"toolCallId": call_id, "content": "yes"}).status_code == 202

        def failed() -> dict[str, object] | None:
            status = instance_status(second, started["thread_id"], started["run_id"])
            return status if status["runtimeStatus"] == "Failed" else None

        status = wait_until(failed, timeout=20, message="the instance to fail")
        assert str(status["output"]).startswith(
            "Non-Deterministic workflow detected: A previous execution of this orchestration scheduled an activity "
            "task with sequence number 0 named 'model_step', but the current orchestration replay instead scheduled "
            "an activity task named 'moderate' with this sequence number."
        )
        # Reading the thread finds the run without a live orchestration and ends it.
        thread = second.wait_idle(started["thread_id"])
        assert thread["runs"][0]["status"] == "failed" and thread["runs"][0]["error"]["code"] == "orchestration_lost"
        events = second.stream(f"/api/agent/stream/{started['thread_id']}")
        terminal = [e for e in events if e.type in ("RUN_FINISHED", "RUN_ERROR")]
        assert [(e.type, e.body["code"]) for e in terminal] == [("RUN_ERROR", "orchestration_lost")]
        assert "Non-Deterministic" not in requests.get(f"{second.url}{started['stream_url']}", timeout=10).text
    finally:
        second.stop()
    assert check_store(BACKENDS["sqlite"](tmp_path), store) == {
        "threads": 1,
        "failed orchestration_lost": 1,
    }
