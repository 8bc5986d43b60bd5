"""devhost SIGKILLed at random points while clients start, continue and cancel runs and answer
client-side tool calls; after each restart the whole store is checked (`tests/invariants.py`).

Each round picks a fault point and how many times it is passed before the kill (devhost's
DEVHOST_FAULT); a round whose point is not reached in time is killed at that moment instead.
After the restart, the retention timer's sweep runs until no run is left active: any run that
lost its orchestration must be ended by reconciliation, every other one by its orchestration.
The seed is in every failure message; AGENTSTREAM_FAULT_SEED replays a failing sequence.
"""

from __future__ import annotations

import asyncio
import os
import random
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import requests

from tests.harness import Devhost, wait_until
from tests.invariants import check_store
from tests.stores.backends import Backend

ROUNDS = 6
ROUND_SECONDS = 3.0
GRACE_SECONDS = 1.0
MASTER_KEY = "test-master-key-0123456789"
POINTS = (
    "start",
    "event.cancel",
    "event.tool_result_*",
    "activity.model_step",
    "completed.model_step",
    "completed.tool_step",
    "activity.finish_run",
    "completed.finish_run",
)
COLOUR = {
    "name": "pick_colour",
    "description": "Let the user pick a colour.",
    "parameters": {"type": "object", "properties": {"palette": {"type": "string"}}, "required": ["palette"]},
}


class Clients:
    """Three clients working against one devhost until it dies or the round is over."""

    def __init__(self, host: Devhost, rng: random.Random, stop: threading.Event) -> None:
        self.host = host
        self.rng = rng
        self.stop = stop
        self.done: Counter[str] = Counter()

    def run(self) -> None:
        with ThreadPoolExecutor(max_workers=3) as pool:
            for future in [pool.submit(self._loop, job) for job in (self.converse, self.cancel, self.answer_tool)]:
                future.result()

    def _loop(self, job: Callable[[], None]) -> None:
        while not self.stop.is_set():
            try:
                job()
            # The harness asserts statuses (a stream of a run that just ended answers 204).
            except (requests.RequestException, StopIteration, AssertionError):
                if self.host.process is not None and self.host.process.poll() is not None:
                    return  # killed: the round's kill came
                # A refused request (409 while a lost run waits out its grace, 503): try again.

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = requests.post(f"{self.host.url}{path}", json=body, timeout=10)
        if response.status_code != 202:
            raise requests.RequestException(f"{response.status_code} {response.text}")
        return dict(response.json())

    def converse(self) -> None:
        message = self.rng.choice(["Quick one.", "What is the weather in Paris?", "What is 6*7? Please calculate 6*7"])
        started = self._post("/api/agent/run", {"message": message})
        self.host.stream(started["stream_url"], timeout=10)
        self._post("/api/agent/run", {"message": "And then?", "thread_id": started["thread_id"]})
        self.done["conversations"] += 1

    def cancel(self) -> None:
        started = self._post("/api/agent/run", {"message": "Take your time with this one."})
        stream = self.host.iter_stream(started["stream_url"], timeout=10)
        for _ in range(self.rng.randint(1, 8)):
            next(stream)
        requests.post(f"{self.host.url}{started['cancel_url']}", timeout=10)
        list(stream)
        self.done["cancels"] += 1

    def answer_tool(self) -> None:
        started = self._post("/api/agent/run", {"message": "Please pick_colour.", "tools": [COLOUR]})
        calls = []
        for event in self.host.iter_stream(started["stream_url"], timeout=10):
            if event.type == "TOOL_CALL_END":
                calls.append(event.body["toolCallId"])
                break
        results = [{"toolCallId": call_id, "content": "teal"} for call_id in calls]
        self._post(started["tool_results_url"], {"results": results})
        self.host.stream(started["stream_url"], timeout=10)
        self.done["tool_results"] += 1


def test_random_kills_leave_a_store_that_keeps_every_invariant(make_devhost, backend: Backend) -> None:
    seed = int(os.environ.get("AGENTSTREAM_FAULT_SEED") or random.randrange(2**32))
    rng = random.Random(seed)
    host: Devhost = make_devhost(
        {
            "DEMO_TOKENS_PER_SECOND": "300",
            "ORCHESTRATION_START_GRACE_SECONDS": str(GRACE_SECONDS),
            "CLIENT_TOOL_TIMEOUT_SECONDS": "3",
            "DEVHOST_MASTER_KEY": MASTER_KEY,
            "PURGE_SCHEDULE": "0 0 0 1 1 *",  # never by itself: the rounds run it through the admin API
        }
    )
    outcomes: Counter[str] = Counter()
    for round_number in range(ROUNDS):
        fault = f"kill:{rng.choice(POINTS)}:{rng.randint(1, 3)}"
        where = f"seed {seed}, round {round_number}, DEVHOST_FAULT={fault}"
        host.kill()
        host.env["DEVHOST_FAULT"] = fault
        host.start()
        stop = threading.Event()
        clients = Clients(host, random.Random(rng.random()), stop)
        worker = threading.Thread(target=clients.run)
        worker.start()
        assert host.process is not None
        try:
            host.process.wait(timeout=ROUND_SECONDS)
            outcomes["killed at the fault point"] += 1
        except subprocess.TimeoutExpired:
            host.kill()
            outcomes["killed at a random moment"] += 1
        stop.set()
        worker.join(timeout=30)
        assert not worker.is_alive(), where
        killed_at = time.time()
        host.env.pop("DEVHOST_FAULT")
        host.start()
        wait_until(lambda past=killed_at + GRACE_SECONDS: time.time() > past, timeout=5)
        wait_until(lambda: sweep_leaves_no_active_run(host, backend), timeout=30, interval=0.5, message=where)
        try:
            counts = check_store(backend, host.env)
        except AssertionError as exc:
            raise AssertionError(f"{where}: {exc}") from exc
        outcomes.update(clients.done)
    outcomes.update({f"runs {status}": n for status, n in counts.items() if status != "threads"})
    print(f"fault rounds on {backend.name}, seed {seed}: {dict(outcomes)}")
    assert counts["threads"] > ROUNDS, outcomes


def sweep_leaves_no_active_run(host: Devhost, backend: Backend) -> bool:
    sweep = requests.post(
        f"{host.url}/admin/functions/purge_expired_threads",
        json={"input": ""},
        headers={"x-functions-key": MASTER_KEY},
        timeout=30,
    )
    assert sweep.status_code == 202, sweep.text

    async def active() -> int:
        store = backend.open_store(host.env)
        try:
            return len(await store.list_active_runs())
        finally:
            await store.close()

    return asyncio.run(active()) == 0
