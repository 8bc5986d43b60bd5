"""Cancel: idempotent, prompt, and the run ends with one terminal event saying so."""

from __future__ import annotations

import random
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import requests

from tests.checks import assert_contiguous, assert_well_ordered_run, discarded_ids
from tests.harness import Devhost, StreamEvent


def cancel(host: Devhost, started: dict) -> requests.Response:
    return requests.post(f"{host.url}{started['cancel_url']}", timeout=10)


def test_cancel_mid_stream_closes_the_open_message_and_ends_the_run_cancelled(make_devhost) -> None:
    host: Devhost = make_devhost({"DEMO_TOKENS_PER_SECOND": "20"})
    started = host.start_run("Talk slowly so I can stop you.")
    events: list[StreamEvent] = []
    cancelled_at = None
    for event in host.iter_stream(started["stream_url"]):
        events.append(event)
        if cancelled_at is None and event.type == "TEXT_MESSAGE_CONTENT" and event.body["delta"].strip() == "said:":
            response = cancel(host, started)
            assert response.status_code == 202, response.text
            assert response.json() == {**_ids(started), "status": "cancelling"}
            cancelled_at = time.monotonic()
    assert cancelled_at is not None
    assert time.monotonic() - cancelled_at < 2  # the model step stops at its next write, not at the end

    assert_contiguous(events)
    assert_well_ordered_run([e for e in events if e.type != "CUSTOM"])
    finished = events[-1]
    assert finished.type == "RUN_FINISHED" and finished.body["outcome"] == {"type": "cancelled"}
    assert len(discarded_ids(events)) == 1
    status = host.status(started["thread_id"])
    assert status["runs"][0]["status"] == "cancelled" and status["active_run_id"] is None
    assert [m["role"] for m in status["messages"]] == ["user"]

    again = cancel(host, started)
    assert again.status_code == 200 and again.json() == {**_ids(started), "status": "cancelled"}
    assert host.stream(started["stream_url"]) == events


def test_cancel_of_a_finished_run_is_409_and_of_an_unknown_one_404(devhost: Devhost) -> None:
    started = devhost.start_run("Quick one.")
    devhost.wait_idle(started["thread_id"])
    response = cancel(devhost, started)
    assert response.status_code == 409 and response.json()["error"]["code"] == "run_finished"
    unknown = requests.post(f"{devhost.url}/api/agent/threads/{started['thread_id']}/runs/{'0' * 32}/cancel", timeout=5)
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "run_not_found"
    no_thread = requests.post(f"{devhost.url}/api/agent/threads/{'0' * 32}/runs/{'0' * 32}/cancel", timeout=5)
    assert no_thread.status_code == 404 and no_thread.json()["error"]["code"] == "thread_not_found"


def test_a_cancelled_thread_takes_a_new_run(make_devhost) -> None:
    host: Devhost = make_devhost({"DEMO_TOKENS_PER_SECOND": "20"})
    started = host.start_run("Long answer I will cancel.")
    assert cancel(host, started).status_code == 202
    host.wait_idle(started["thread_id"], timeout=10)
    follow_up = host.start_run("Now answer this.", thread_id=started["thread_id"])
    events = host.stream(follow_up["stream_url"])
    assert_well_ordered_run(events)
    assert events[-1].type == "RUN_FINISHED" and "outcome" not in events[-1].body


def _ids(started: dict) -> dict:
    return {"thread_id": started["thread_id"], "run_id": started["run_id"]}


RACE_ROUNDS = 100
# devhost holds each finish_run activity this long, after the orchestration decided how the run
# ends and before the ending is written; cancels spread over twice that land before, inside and after.
FINISH_DELAY_MS = 30
JITTER_SECONDS = 2 * FINISH_DELAY_MS / 1000


def test_a_cancel_racing_the_end_of_a_run_ends_it_cancelled_whenever_it_answered_cancelling(make_devhost) -> None:
    host: Devhost = make_devhost(
        {"DEMO_TOKENS_PER_SECOND": "2000", "DEVHOST_FAULT": f"delay:activity.finish_run:{FINISH_DELAY_MS}"}
    )
    answers: Counter[int] = Counter()
    with ThreadPoolExecutor(max_workers=2) as pool:
        for _ in range(RACE_ROUNDS):
            started = host.start_run("Quick one.")
            cancels = []
            for event in host.iter_stream(started["stream_url"]):
                # The answer's last event: the run is about to finish, the cancels race its ending.
                if event.type == "TEXT_MESSAGE_END" and event.body["messageId"].startswith(f"{started['run_id']}.m"):
                    # Spread the cancels over the moments in which the run is finishing.
                    time.sleep(random.uniform(0, JITTER_SECONDS))
                    cancels = [pool.submit(cancel, host, started) for _ in range(2)]
            statuses = [c.result().status_code for c in cancels]
            answers.update(statuses)
            run = host.wait_idle(started["thread_id"], timeout=10)["runs"][0]
            terminal = host.stream(started["stream_url"])[-1]
            if 202 in statuses:
                assert run["status"] == "cancelled", (statuses, run)
                assert terminal.type == "RUN_FINISHED" and terminal.body["outcome"] == {"type": "cancelled"}
            assert set(statuses) <= {200, 202, 409}, statuses
    # The race was run: some cancels came in time to be answered `cancelling`.
    assert answers[202] > 0, answers
