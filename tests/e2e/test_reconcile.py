"""No run stays active without a live orchestration: a kill between a run's commit and its
orchestration start, and an operator's terminate, each end the run with `orchestration_lost`."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest
import requests

from agentstream.functions.orchestration import run_instance_id
from agentstream.log.stores import RunStatus
from devhost.keys import KEYS_FILE
from tests.checks import assert_contiguous, assert_well_ordered_run
from tests.harness import Devhost, wait_until

GRACE_SECONDS = 1.0
MASTER_KEY = "test-master-key-0123456789"


def lost_run_host(make_devhost: Any) -> tuple[Devhost, dict[str, Any], str]:
    """A thread with one finished run, then a second run whose start was killed after its commit."""
    host: Devhost = make_devhost(
        {
            "ORCHESTRATION_START_GRACE_SECONDS": str(GRACE_SECONDS),
            "DEVHOST_FAULT": "kill:start:2",
            "DEVHOST_MASTER_KEY": MASTER_KEY,
            "PURGE_SCHEDULE": "0 0 0 1 1 *",  # never by itself: the test runs it through the admin API
        }
    )
    first = host.start_run("Hello.")
    host.wait_idle(first["thread_id"])
    with pytest.raises(requests.ConnectionError):
        requests.post(
            f"{host.url}/api/agent/run", json={"message": "Are you there?", "thread_id": first["thread_id"]}, timeout=10
        )
    assert host.process is not None and host.process.wait(timeout=10) == -9
    host.env.pop("DEVHOST_FAULT")
    host.start()
    lost_run_id = host_run_ids(host, first["thread_id"])[-1]
    return host, first, lost_run_id


def host_run_ids(host: Devhost, thread_id: str) -> list[str]:
    """The thread's runs, read from the store itself: a status request would reconcile them."""

    async def main() -> list[str]:
        store = type(host.backend).open_store(host.env)  # type: ignore[arg-type]
        try:
            thread = await store.get_thread(thread_id)
            assert thread is not None
            return [run.run_id for run in thread.runs]
        finally:
            await store.close()

    return asyncio.run(main())


def stored_status(host: Devhost, thread_id: str, run_id: str) -> RunStatus:
    async def main() -> RunStatus:
        store = type(host.backend).open_store(host.env)  # type: ignore[arg-type]
        try:
            run = await store.get_run(thread_id, run_id)
            assert run is not None
            return run.status
        finally:
            await store.close()

    return asyncio.run(main())


def assert_ended_once(host: Devhost, thread_id: str, run_id: str, terminal: str) -> list[Any]:
    events = host.stream(f"/api/agent/stream/{thread_id}?run_id={run_id}")
    assert_contiguous(events, first=events[0].id)
    assert_well_ordered_run(events)
    assert events[-2].type == "MESSAGES_SNAPSHOT" and events[-1].type == terminal
    return events


def test_a_run_whose_start_was_killed_is_ended_by_a_status_read_after_the_grace(make_devhost) -> None:
    host, first, lost = lost_run_host(make_devhost)
    thread_id = first["thread_id"]
    # Each read reconciles; within the grace the run may still be starting and stays.
    status = wait_until(
        lambda: (s := host.status(thread_id))["active_run_id"] is None and s, timeout=GRACE_SECONDS + 10
    )
    [run] = [r for r in status["runs"] if r["run_id"] == lost]
    assert run["status"] == "failed" and run["error"]["code"] == "orchestration_lost", run
    events = assert_ended_once(host, thread_id, lost, "RUN_ERROR")
    assert events[-1].body["code"] == "orchestration_lost"
    next_run = host.start_run("And now?", thread_id=thread_id)
    assert host.stream(next_run["stream_url"])[-1].type == "RUN_FINISHED"


def test_a_run_whose_start_was_killed_gives_way_to_the_next_run_after_the_grace(make_devhost) -> None:
    host, first, lost = lost_run_host(make_devhost)
    thread_id = first["thread_id"]
    url = f"{host.url}/api/agent/run"

    def start_next() -> requests.Response | None:
        response = requests.post(url, json={"message": "Still there?", "thread_id": thread_id}, timeout=10)
        if response.status_code == 409:
            assert response.json()["error"]["code"] == "run_active"
            return None
        return response

    started = wait_until(start_next, timeout=GRACE_SECONDS + 10, interval=0.1)
    assert started.status_code == 202, started.text
    assert_ended_once(host, thread_id, lost, "RUN_ERROR")
    assert host.stream(started.json()["stream_url"])[-1].type == "RUN_FINISHED"
    assert [r["status"] for r in host.status(thread_id)["runs"]] == ["succeeded", "failed", "succeeded"]


def test_a_run_whose_start_was_killed_ends_cancelled_when_cancelled_after_the_grace(make_devhost) -> None:
    host, first, lost = lost_run_host(make_devhost)
    thread_id = first["thread_id"]
    url = f"{host.url}/api/agent/threads/{thread_id}/runs/{lost}/cancel"
    # Within the grace the run may still be starting: `cancelling`. After it, the cancel ends the
    # run itself, cancelled as it was told.
    cancelled = wait_until(
        lambda: (r := requests.post(url, timeout=10)).status_code != 202 and r, timeout=GRACE_SECONDS + 10
    )
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled", cancelled.text
    events = assert_ended_once(host, thread_id, lost, "RUN_FINISHED")
    assert events[-1].body["outcome"] == {"type": "cancelled"}
    next_run = host.start_run("Once more.", thread_id=thread_id)
    assert host.stream(next_run["stream_url"])[-1].type == "RUN_FINISHED"


def test_the_retention_timer_sweeps_a_run_whose_start_was_killed(make_devhost) -> None:
    host, first, lost = lost_run_host(make_devhost)
    wait_until(lambda: time.time() > created_at(host, first["thread_id"], lost) + GRACE_SECONDS, timeout=10)
    assert stored_status(host, first["thread_id"], lost) is RunStatus.RUNNING
    sweep = requests.post(
        f"{host.url}/admin/functions/purge_expired_threads",
        json={"input": ""},
        headers={"x-functions-key": MASTER_KEY},
        timeout=30,
    )
    assert sweep.status_code == 202, sweep.text
    assert stored_status(host, first["thread_id"], lost) is RunStatus.FAILED
    assert_ended_once(host, first["thread_id"], lost, "RUN_ERROR")


def created_at(host: Devhost, thread_id: str, run_id: str) -> float:
    async def main() -> float:
        store = type(host.backend).open_store(host.env)  # type: ignore[arg-type]
        try:
            run = await store.get_run(thread_id, run_id)
            assert run is not None
            return run.created_at
        finally:
            await store.close()

    return asyncio.run(main())


def test_an_operator_terminating_a_run_ends_it_with_orchestration_lost(make_devhost) -> None:
    host: Devhost = make_devhost({"DEMO_TOKENS_PER_SECOND": "20"})
    started = host.start_run("Talk slowly, an operator is about to stop you.")
    stream = host.iter_stream(started["stream_url"])
    before = [next(stream) for _ in range(6)]
    system_key = json.loads((host.data_dir / KEYS_FILE).read_text())["durable_system_key"]
    instance = run_instance_id(started["thread_id"], started["run_id"])
    terminate = requests.post(
        f"{host.url}/runtime/webhooks/durabletask/instances/{instance}/terminate",
        params={"reason": "operator", "code": system_key},
        timeout=10,
    )
    assert terminate.status_code == 202
    # Terminated is definite: no grace, the first status read ends the run.
    status = host.status(started["thread_id"])
    assert status["active_run_id"] is None
    assert status["runs"][0]["status"] == "failed" and status["runs"][0]["error"]["code"] == "orchestration_lost"
    events = before + list(stream)
    assert_contiguous(events)
    assert [e.type for e in events].count("RUN_ERROR") == 1 and events[-1].type == "RUN_ERROR"
    assert events[-2].type == "MESSAGES_SNAPSHOT"
    next_run = host.start_run("Are you back?", thread_id=started["thread_id"])
    assert host.stream(next_run["stream_url"])[-1].type == "RUN_FINISHED"
