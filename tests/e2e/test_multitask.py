"""A second message while a run is active, per agent: reject (409), enqueue (runs in arrival order)
or interrupt (the active run is cancelled, then the new one runs), through devhost over HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.checks import TERMINAL, assert_contiguous, assert_well_ordered_run
from tests.harness import Devhost, StreamEvent, wait_until
from tests.invariants import check_thread
from tests.stores.backends import Backend

APP = "tests.e2e.multitask_app"
# Slow enough that the first run is still streaming when the next messages arrive.
SLOW = {"DEMO_TOKENS_PER_SECOND": "25"}
# One run of the demo model on a user message: the message echoed, the answer, the snapshot, the end.
RUN_TYPES = [
    "RUN_STARTED",
    "TEXT_MESSAGE_START",
    "TEXT_MESSAGE_CONTENT",
    "TEXT_MESSAGE_END",
    "TEXT_MESSAGE_START",
    "TEXT_MESSAGE_CONTENT",
    "TEXT_MESSAGE_END",
    "MESSAGES_SNAPSHOT",
    "RUN_FINISHED",
]
# A run between the first and the last in a replay of the whole thread: its snapshot comes compact.
REPLAYED_RUN_TYPES = [*RUN_TYPES[:-2], "CUSTOM", "RUN_FINISHED"]


def replayed_types(runs: list[list[StreamEvent]]) -> list[list[str]]:
    """A replay sends the first snapshot it meets and the newest run's whole, the others compact."""
    return [RUN_TYPES, *[REPLAYED_RUN_TYPES] * (len(runs) - 2), RUN_TYPES][: len(runs)]


@pytest.fixture
def make_host(tmp_path: Path, backend: Backend) -> Iterator[Any]:
    started: list[Devhost] = []

    def make(env: dict[str, str] | None = None) -> Devhost:
        host = Devhost(tmp_path / "data", {**backend.new_env(), **SLOW, **(env or {})}, app=APP, backend=backend)
        started.append(host.start())
        return host

    yield make
    for host in started:
        host.stop()


def post(host: Devhost, agent: str, message: str, **extra: Any) -> requests.Response:
    return requests.post(f"{host.url}/api/agents/{agent}/run", json={"message": message, **extra}, timeout=10)


def squeezed(events: list[StreamEvent]) -> list[str]:
    """The event types, runs of text deltas counted once (how many depends on the model's pace)."""
    types: list[str] = []
    for event in events:
        if not (event.type == "TEXT_MESSAGE_CONTENT" and types and types[-1] == event.type):
            types.append(event.type)
    return types


def runs_of(events: list[StreamEvent]) -> list[list[StreamEvent]]:
    runs: list[list[StreamEvent]] = []
    for event in events:
        if event.type == "RUN_STARTED":
            runs.append([])
        runs[-1].append(event)
    return runs


def check_invariants(host: Devhost, thread_id: str) -> list[str]:
    async def main() -> list[str]:
        store = type(host.backend).open_store(host.env)  # type: ignore[arg-type]
        try:
            return await check_thread(store, thread_id)
        finally:
            await store.close()

    return asyncio.run(main())


def first_answer_delta(host: Devhost, thread_id: str, run_id: str) -> None:
    """Wait until the run has streamed some of its answer."""
    for event in host.iter_stream(f"/api/agent/stream/{thread_id}?run_id={run_id}"):
        if event.type == "TEXT_MESSAGE_CONTENT" and event.body["messageId"].startswith(f"{run_id}.m"):
            return
    raise AssertionError(f"run {run_id} ended before it streamed an answer")


def test_enqueued_messages_run_one_after_another_in_arrival_order(make_host: Any) -> None:
    host = make_host()
    first = post(host, "queueing", "first")
    assert first.status_code == 202 and first.json()["status"] == "running"
    thread_id = first.json()["thread_id"]
    queued = [post(host, "queueing", text, thread_id=thread_id) for text in ("second", "third")]
    assert [(r.status_code, r.json()["status"], r.json()["queue_position"]) for r in queued] == [
        (202, "queued", 1),
        (202, "queued", 2),
    ]
    run_ids = [first.json()["run_id"], *(r.json()["run_id"] for r in queued)]
    for response, run_id in zip(queued, run_ids[1:], strict=True):
        body = response.json()
        assert body["stream_url"] == f"/api/agent/stream/{thread_id}?run_id={run_id}"
        assert body["cancel_url"] == f"/api/agent/threads/{thread_id}/runs/{run_id}/cancel"
        assert response.headers["Location"] == body["stream_url"]
    status = host.status(thread_id)
    assert status["active_run_id"] == run_ids[0] and [r["run_id"] for r in status["runs"]] == run_ids[:1]
    assert [q["run_id"] for q in status["queue"]] == run_ids[1:]

    # The third run's own stream, opened before it started, is that run exactly.
    third = host.stream(queued[1].json()["stream_url"])
    status = host.wait_idle(thread_id)
    assert status["queue"] == []
    assert [(r["run_id"], r["status"]) for r in status["runs"]] == [(run_id, "succeeded") for run_id in run_ids]

    events = host.stream(f"/api/agent/stream/{thread_id}")
    assert_contiguous(events)
    runs = runs_of(events)
    assert [run[0].body["runId"] for run in runs] == run_ids
    assert [e.id for e in third] == [e.id for e in runs[2]]
    seen: list[str] = []
    assert [squeezed(run) for run in runs] == replayed_types(runs)
    for run, text, body in zip(runs, ("first", "second", "third"), status["runs"], strict=True):
        assert_well_ordered_run(run)
        assert (run[0].id, run[-1].id) == (body["first_event_id"], body["last_event_id"])
        assert run[2].body["delta"] == text
        own = host.stream(f"/api/agent/stream/{thread_id}?run_id={body['run_id']}")
        assert squeezed(own) == RUN_TYPES and [e.id for e in own] == [e.id for e in run]
        snapshot = [m["id"] for m in own[-2].body["messages"]]
        # Each run's snapshot holds the earlier runs' conversation, then its own.
        assert snapshot[: len(seen)] == seen and len(snapshot) == len(seen) + 2
        seen = snapshot
    assert [e.type for e in events].count("RUN_FINISHED") == 3
    assert check_invariants(host, thread_id) == ["succeeded"] * 3


def test_interrupt_cancels_the_active_run_then_runs_the_new_message(make_host: Any) -> None:
    host = make_host()
    first = post(host, "interrupting", "first").json()
    thread_id = first["thread_id"]
    first_answer_delta(host, thread_id, first["run_id"])
    second = post(host, "interrupting", "never mind, second", thread_id=thread_id)
    assert second.status_code == 202
    assert (second.json()["status"], second.json()["queue_position"]) == ("queued", 1)
    status = host.wait_idle(thread_id)
    run_ids = [first["run_id"], second.json()["run_id"]]
    assert [(r["run_id"], r["status"]) for r in status["runs"]] == list(
        zip(run_ids, ["cancelled", "succeeded"], strict=True)
    )

    events = host.stream(f"/api/agent/stream/{thread_id}")
    assert_contiguous(events)
    cancelled, answered = runs_of(events)
    assert_well_ordered_run(cancelled)
    assert cancelled[-2].type == "MESSAGES_SNAPSHOT"
    assert cancelled[-1].type == "RUN_FINISHED" and cancelled[-1].body["outcome"] == {"type": "cancelled"}
    # The new run opens right after the old one's terminal event.
    assert answered[0].id == cancelled[-1].id + 1 and answered[0].body["runId"] == run_ids[1]
    assert squeezed(answered) == RUN_TYPES
    assert answered[-1].body.get("outcome") in (None, {"type": "success"})
    assert check_invariants(host, thread_id) == ["cancelled", "succeeded"]


def test_reject_refuses_a_second_message_and_a_request_may_choose_another_strategy(make_host: Any) -> None:
    host = make_host()
    before = host.backend.snapshot(host.env)
    bad = post(host, "rejecting", "first", multitask_strategy="later")
    assert bad.status_code == 400
    assert bad.json() == {
        "error": {
            "code": "invalid_body",
            "message": "multitask_strategy: Input should be 'reject', 'enqueue' or 'interrupt'",
        }
    }
    assert host.backend.snapshot(host.env) == before
    first = post(host, "rejecting", "first").json()
    thread_id = first["thread_id"]
    refused = post(host, "rejecting", "second", thread_id=thread_id)
    assert refused.status_code == 409
    assert refused.json() == {
        "error": {
            "code": "run_active",
            "message": f"Thread '{thread_id}' already has an active run '{first['run_id']}'. "
            "Wait for it to finish or cancel it before starting another.",
        }
    }
    assert host.status(thread_id)["queue"] == []

    queued = post(host, "rejecting", "second", thread_id=thread_id, multitask_strategy="enqueue")
    assert queued.status_code == 202 and queued.json()["status"] == "queued"
    status = host.wait_idle(thread_id)
    assert [(r["run_id"], r["status"]) for r in status["runs"]] == [
        (first["run_id"], "succeeded"),
        (queued.json()["run_id"], "succeeded"),
    ]
    agents = requests.get(f"{host.url}/api/agents", timeout=10).json()["agents"]
    assert {a["name"]: a["multitask_strategy"] for a in agents} == {
        "queueing": "enqueue",
        "interrupting": "interrupt",
        "rejecting": "reject",
    }


def test_a_queued_run_cancelled_before_its_turn_never_starts(make_host: Any) -> None:
    host = make_host()
    first = post(host, "queueing", "first").json()
    thread_id = first["thread_id"]
    second, third = (post(host, "queueing", text, thread_id=thread_id).json() for text in ("second", "third"))
    cancel_url = f"{host.url}{second['cancel_url']}"
    answers = [requests.post(cancel_url, timeout=10) for _ in range(2)]
    expected = {"thread_id": thread_id, "run_id": second["run_id"], "status": "cancelled"}
    assert [(a.status_code, a.json()) for a in answers] == [(200, expected), (200, expected)]
    assert [q["run_id"] for q in host.status(thread_id)["queue"]] == [third["run_id"]]
    assert requests.get(f"{host.url}{second['stream_url']}", timeout=10).status_code == 204
    unknown = requests.post(f"{host.url}/api/agent/threads/{thread_id}/runs/nope/cancel", timeout=10)
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "run_not_found"

    status = host.wait_idle(thread_id)
    assert [(r["run_id"], r["status"]) for r in status["runs"]] == [
        (first["run_id"], "succeeded"),
        (third["run_id"], "succeeded"),
    ]
    events = host.stream(f"/api/agent/stream/{thread_id}")
    assert_contiguous(events)
    assert second["run_id"] not in {e.body.get("runId") for e in events}
    assert "second" not in [m.get("content") for m in status["messages"]]
    assert check_invariants(host, thread_id) == ["succeeded", "succeeded"]


def test_queued_messages_wait_while_an_approval_is_pending(make_host: Any) -> None:
    host = make_host()
    first = post(host, "queueing", "book_table for 2").json()
    thread_id = first["thread_id"]
    second = post(host, "queueing", "second", thread_id=thread_id).json()
    assert second["status"] == "queued"
    interrupt = wait_until(lambda: host.status(thread_id)["interrupts"], timeout=30, message="the approval")[0]
    status = host.status(thread_id)
    assert status["active_run_id"] is None and [q["run_id"] for q in status["queue"]] == [second["run_id"]]
    assert [r["status"] for r in status["runs"]] == ["interrupted"]
    refused = post(host, "queueing", "third", thread_id=thread_id)
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "interrupt_pending"

    resume = [{"interruptId": interrupt["id"], "status": "resolved", "payload": {"approved": True}}]
    resumed = requests.post(
        f"{host.url}/api/agents/queueing/run", json={"thread_id": thread_id, "resume": resume}, timeout=10
    )
    assert resumed.status_code == 202
    status = host.wait_idle(thread_id)
    assert [(r["run_id"], r["status"]) for r in status["runs"]] == [
        (first["run_id"], "interrupted"),
        (resumed.json()["run_id"], "succeeded"),
        (second["run_id"], "succeeded"),
    ]
    assert check_invariants(host, thread_id) == ["interrupted", "succeeded", "succeeded"]


def test_a_kill_between_runs_still_runs_the_queued_runs_exactly_once(make_host: Any) -> None:
    # The second orchestration start of the process is the held queued run's: devhost dies with the
    # first run over and the thread held by the next one, before its orchestration exists.
    host = make_host({"DEVHOST_FAULT": "kill:start:2"})
    first = post(host, "queueing", "first").json()
    thread_id = first["thread_id"]
    queued = [post(host, "queueing", text, thread_id=thread_id).json() for text in ("second", "third")]
    assert host.process is not None and host.process.wait(timeout=30) == -9
    host.env.pop("DEVHOST_FAULT")
    host.start()
    status = host.wait_idle(thread_id, timeout=60)
    run_ids = [first["run_id"], *(q["run_id"] for q in queued)]
    assert [(r["run_id"], r["status"]) for r in status["runs"]] == [(run_id, "succeeded") for run_id in run_ids]
    events = host.stream(f"/api/agent/stream/{thread_id}")
    assert_contiguous(events)
    runs = runs_of(events)
    assert [run[0].body["runId"] for run in runs] == run_ids
    assert [squeezed(run) for run in runs] == replayed_types(runs)
    for run in runs:
        assert len([e for e in run if e.type in TERMINAL]) == 1
    assert check_invariants(host, thread_id) == ["succeeded"] * 3
