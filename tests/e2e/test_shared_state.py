"""Shared state over devhost with the real `openai` SDK: state in, STATE_SNAPSHOT/STATE_DELTA out, thread
status, replays from any cursor, typed state refusing what does not fit, and ag-ui-validate."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from typing import Any

import jsonpatch
import pytest
import requests
from ag_ui_validate.transport import TransportOptions, validate_endpoint
from ag_ui_validate.types import ValidatorOptions

from agentstream.agent.state import fold
from tests.agui.stream import events
from tests.agui.test_conformance import assert_no_findings
from tests.harness import Devhost, StreamEvent
from tests.openai_server import OpenAIServer, Reply

PLAN = {"title": "Trip", "steps": ["book"], "done": 0}


@pytest.fixture(scope="module")
def server() -> Iterator[OpenAIServer]:
    started = OpenAIServer().start()
    yield started
    started.stop()


@pytest.fixture(scope="module")
def host(server: OpenAIServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Devhost]:
    env = {"MODEL_PROVIDER": "openai", "OPENAI_API_KEY": "test-key", "OPENAI_BASE_URL": server.base_url}
    started = Devhost(tmp_path_factory.mktemp("state") / "data", env, app="tests.e2e.state_app").start()
    yield started
    started.stop()


@pytest.fixture(autouse=True)
def fresh(server: OpenAIServer) -> Iterator[None]:
    server.reset()
    yield
    assert server.pending_replies == 0, "a scripted reply was never asked for"


def run(host: Devhost, agent: str, body: dict[str, Any]) -> tuple[str, list[StreamEvent]]:
    started = requests.post(f"{host.url}/api/agents/{agent}/run", json=body, timeout=10)
    assert started.status_code == 202, started.text
    return started.json()["thread_id"], host.stream(started.json()["stream_url"])


def test_state_in_two_deltas_from_one_tool_and_the_snapshots_agree(host: Devhost, server: OpenAIServer) -> None:
    server.script(Reply(tool_calls=[("add_steps", '{"steps": ["pack", "go"]}')]), Reply(text="Planned."))
    thread_id, events = run(host, "planner", {"message": "Plan my trip", "state": PLAN})
    kinds = [e.type for e in events]
    assert kinds[:2] == ["RUN_STARTED", "STATE_SNAPSHOT"]
    assert events[1].body["snapshot"] == PLAN
    deltas = [e.body["delta"] for e in events if e.type == "STATE_DELTA"]
    assert deltas == [
        [{"op": "add", "path": "/steps/1", "value": "pack"}],
        [{"op": "add", "path": "/steps/2", "value": "go"}],
    ]
    # The deltas commit with the tool's result, before it.
    result_at = kinds.index("TOOL_CALL_RESULT")
    assert kinds[result_at - 2 : result_at] == ["STATE_DELTA", "STATE_DELTA"]
    assert kinds[-3:] == ["MESSAGES_SNAPSHOT", "STATE_SNAPSHOT", "RUN_FINISHED"]
    expected = {"title": "Trip", "steps": ["book", "pack", "go"], "done": 0}
    patched = PLAN
    for delta in deltas:
        patched = jsonpatch.apply_patch(patched, delta)
    assert patched == expected == events[-2].body["snapshot"]
    assert host.status(thread_id)["state"] == expected

    # A reader resuming from any cursor, with the state it had there, ends with the same state.
    for cursor in range(events[0].id - 1, events[-1].id + 1):
        before = fold(e.body for e in events if e.id <= cursor)
        after = host.stream(f"/api/agent/stream/{thread_id}?after={cursor}") if cursor < events[-1].id else []
        assert fold((e.body for e in after), before) == expected

    # The next run without state opens with the thread's.
    server.script(Reply(text="Still planned."))
    _, again = run(host, "planner", {"message": "Anything else?", "thread_id": thread_id})
    assert again[1].type == "STATE_SNAPSHOT" and again[1].body["snapshot"] == expected
    assert server.chat_requests()[-1]["messages"][-1] == {"role": "user", "content": "Anything else?"}


def test_a_failing_tool_and_a_refused_update_change_no_state(host: Devhost, server: OpenAIServer) -> None:
    server.script(Reply(tool_calls=[("complete_step", "{}"), ("set_done", '{"done": "three"}')]), Reply(text="Hmm."))
    thread_id, events = run(host, "planner", {"message": "Progress?", "state": PLAN})
    assert [e.type for e in events].count("STATE_DELTA") == 0
    results = {e.body["content"] for e in events if e.type == "TOOL_CALL_RESULT"}
    assert any("the step could not be completed" in r for r in results)
    assert any("does not fit the agent's state: done" in r for r in results)
    assert host.status(thread_id)["state"] == PLAN


def test_state_that_does_not_fit_is_refused_and_nothing_is_written(host: Devhost, server: OpenAIServer) -> None:
    before = host.store_counts()
    for state, code in (({"done": "lots"}, "invalid_state"), ([1, 2], "invalid_body")):
        refused = requests.post(f"{host.url}/api/agents/planner/run", json={"message": "x", "state": state}, timeout=10)
        assert (refused.status_code, refused.json()["error"]["code"]) == (400, code), refused.text
    assert host.store_counts() == before
    assert server.chat_requests() == []


def test_a_thread_without_state_streams_no_state_events(host: Devhost, server: OpenAIServer) -> None:
    server.script(Reply(tool_calls=[("set_done", '{"done": "1"}')]), Reply(text="Done."))
    thread_id, events = run(host, "plain", {"message": "Set it"})
    assert not [e for e in events if e.type.startswith("STATE_")]
    [result] = [e.body["content"] for e in events if e.type == "TOOL_CALL_RESULT"]
    assert "no shared state" in result
    assert host.status(thread_id)["state"] is None


def test_ag_ui_state_with_no_validator_findings_and_a_hydrated_join(host: Devhost, server: OpenAIServer) -> None:
    url = f"{host.url}/api/agents/planner/ag-ui"
    thread_id = f"state-{uuid.uuid4().hex[:8]}"
    # Paced, so the answer streams in several chunks, as the validator's AGUI507 expects of a live response.
    server.script(
        Reply(text="Let me add that.", tool_calls=[("add_steps", '{"steps": ["pack"]}')], chunk_delay=0.02),
        Reply(text="Ok, packing is on the plan.", chunk_delay=0.02),
    )
    body = {
        "threadId": thread_id,
        "runId": "plan",
        "state": PLAN,
        "messages": [{"id": "u1", "role": "user", "content": "Add packing"}],
    }
    # Declared, so the validator checks that state is established (AGUI305). The snapshot before the
    # terminal event (which clients that joined late rely on) always follows the run's deltas: that is
    # AGUI304, an "info" rule, switched off here; the other tests check it equals what the deltas built.
    options = ValidatorOptions(features=["shared-state"], severity_overrides={"AGUI304": "off"})
    result = asyncio.run(validate_endpoint(url, TransportOptions(validator=options, timeout_ms=60_000, input=body)))
    assert_no_findings(result, at_least=8)
    assert host.status(thread_id)["state"] == {**PLAN, "steps": ["book", "pack"]}
    # A client joining the idle thread gets the state with the conversation.
    replayed = events(host, {"threadId": thread_id, "messages": []}, path="/api/agents/planner/ag-ui")
    assert [e["type"] for e in replayed] == ["RUN_STARTED", "MESSAGES_SNAPSHOT", "STATE_SNAPSHOT", "RUN_FINISHED"]
    assert replayed[2]["snapshot"] == {**PLAN, "steps": ["book", "pack"]}
