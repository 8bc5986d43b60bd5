"""Tool calls that wait for a person: the interrupt outcome, 409 interrupt_pending, and resume, over devhost
with the real `openai` SDK talking to the local OpenAI-compatible server."""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime as dt
import json
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from agentstream.agent.approvals import DECLINED
from agentstream_client import AgentStreamClient, AsyncAgentStreamClient
from tests.agui.stream import events
from tests.agui.test_conformance import assert_no_findings, validate
from tests.harness import Devhost, StreamEvent, wait_until
from tests.openai_server import OpenAIServer, Reply

REFUND_ARGS = '{"order_id": "A-1", "amount": 12.5}'


@pytest.fixture(scope="module")
def server() -> Iterator[OpenAIServer]:
    started = OpenAIServer().start()
    yield started
    started.stop()


@pytest.fixture(scope="module")
def log_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("approvals") / "tools.jsonl"


@pytest.fixture(scope="module")
def host(server: OpenAIServer, log_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Devhost]:
    env = {
        "MODEL_PROVIDER": "openai",
        "OPENAI_API_KEY": "test-key",
        "OPENAI_BASE_URL": server.base_url,
        "APPROVAL_LOG": str(log_path),
    }
    started = Devhost(tmp_path_factory.mktemp("approvals") / "data", env, app="tests.e2e.approval_app").start()
    yield started
    started.stop()


@pytest.fixture(autouse=True)
def fresh(server: OpenAIServer, log_path: Path) -> Iterator[None]:
    server.reset()
    log_path.write_text("")
    yield
    assert server.pending_replies == 0, "a scripted reply was never asked for"


def tool_runs(log_path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log_path.read_text().splitlines()]


def post(host: Devhost, body: dict[str, Any]) -> requests.Response:
    return requests.post(f"{host.url}/api/agents/support/run", json=body, timeout=10)


def interrupted_run(host: Devhost, server: OpenAIServer, *calls: tuple[str, str]) -> tuple[str, list[StreamEvent]]:
    """A run whose model calls `calls`; returns its thread and events (it ends interrupted)."""
    server.script(Reply(tool_calls=list(calls), call_ids=[f"call_{i}" for i in range(len(calls))]))
    started = post(host, {"message": "Please refund order A-1."})
    assert started.status_code == 202, started.text
    return started.json()["thread_id"], host.stream(started.json()["stream_url"])


def resume(host: Devhost, thread_id: str, *answers: dict[str, Any]) -> requests.Response:
    return post(host, {"thread_id": thread_id, "resume": list(answers)})


def approve(interrupt: str, **arguments: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {"approved": True}
    if arguments:
        payload["arguments"] = arguments
    return {"interruptId": interrupt, "status": "resolved", "payload": payload}


def test_a_call_that_needs_approval_ends_the_run_with_an_interrupt(
    host: Devhost, server: OpenAIServer, log_path: Path
) -> None:
    thread_id, events = interrupted_run(host, server, ("refund", REFUND_ARGS))
    run_id = events[0].body["runId"]
    # Consecutive deltas of one kind (the arguments arrive in pieces) count once.
    kinds = [e.type for i, e in enumerate(events) if i == 0 or e.type != events[i - 1].type]
    assert kinds == [
        "RUN_STARTED",
        "TEXT_MESSAGE_START",
        "TEXT_MESSAGE_CONTENT",
        "TEXT_MESSAGE_END",
        "TOOL_CALL_START",
        "TOOL_CALL_ARGS",
        "TOOL_CALL_END",
        "MESSAGES_SNAPSHOT",
        "RUN_FINISHED",
    ]
    [call_id] = [e.body["toolCallId"] for e in events if e.type == "TOOL_CALL_START"]
    assert events[-1].body["outcome"] == {
        "type": "interrupt",
        "interrupts": [
            {
                "id": f"{run_id}.{call_id}",
                "reason": "tool_call",
                "toolCallId": call_id,
                "message": f"Approve refund({REFUND_ARGS})?",
                "responseSchema": {
                    "type": "object",
                    "properties": {
                        "approved": {"type": "boolean"},
                        "arguments": {
                            "type": "object",
                            "properties": {
                                "order_id": {"type": "string", "description": "The order to refund."},
                                "amount": {"type": "number", "description": "Euros."},
                            },
                            "required": ["order_id", "amount"],
                            "additionalProperties": False,
                        },
                    },
                    "required": ["approved"],
                    "additionalProperties": False,
                },
            }
        ],
    }
    assert tool_runs(log_path) == []
    status = host.status(thread_id)
    assert status["active_run_id"] is None and status["runs"][-1]["status"] == "interrupted"
    assert status["interrupts"] == events[-1].body["outcome"]["interrupts"]

    refused = post(host, {"thread_id": thread_id, "message": "Hello?"})
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "interrupt_pending"
    assert host.status(thread_id) == status
    assert len(server.chat_requests()) == 1


def test_approving_runs_the_tool_once_and_the_model_reads_its_result(
    host: Devhost, server: OpenAIServer, log_path: Path
) -> None:
    thread_id, events = interrupted_run(host, server, ("refund", REFUND_ARGS), ("lookup_order", '{"order_id": "A-1"}'))
    [interrupt] = events[-1].body["outcome"]["interrupts"]
    # The call that needs no approval ran in the first run.
    assert tool_runs(log_path) == [{"tool": "lookup_order", "order_id": "A-1"}]
    server.script(Reply(text="Refunded."))
    resumed = resume(host, thread_id, approve(interrupt["id"]))
    assert resumed.status_code == 202, resumed.text
    after = host.stream(resumed.json()["stream_url"])
    results = [e.body for e in after if e.type == "TOOL_CALL_RESULT"]
    assert [(r["toolCallId"], r["content"]) for r in results] == [
        (interrupt["toolCallId"], "Refunded 12.5 EUR on A-1.")
    ]
    assert after[-1].type == "RUN_FINISHED" and "outcome" not in after[-1].body
    assert tool_runs(log_path) == [
        {"tool": "lookup_order", "order_id": "A-1"},
        {"tool": "refund", "order_id": "A-1", "amount": 12.5},
    ]
    second = server.chat_requests()[-1]["messages"]
    tool_answers = {m["tool_call_id"]: m["content"] for m in second if m["role"] == "tool"}
    assert tool_answers[interrupt["toolCallId"]] == "Refunded 12.5 EUR on A-1."
    status = host.status(thread_id)
    assert status["interrupts"] == [] and status["runs"][-1]["status"] == "succeeded"


def test_approving_with_edited_arguments_runs_the_edit(host: Devhost, server: OpenAIServer, log_path: Path) -> None:
    thread_id, events = interrupted_run(host, server, ("refund", REFUND_ARGS))
    [interrupt] = events[-1].body["outcome"]["interrupts"]
    bad = resume(host, thread_id, approve(interrupt["id"], order_id="A-1", amount="lots"))
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_arguments"
    server.script(Reply(text="Refunded five."))
    resumed = resume(host, thread_id, approve(interrupt["id"], order_id="A-1", amount=5))
    assert resumed.status_code == 202, resumed.text
    host.stream(resumed.json()["stream_url"])
    assert tool_runs(log_path) == [{"tool": "refund", "order_id": "A-1", "amount": 5.0}]


def test_declining_never_runs_the_tool_and_tells_the_model(host: Devhost, server: OpenAIServer, log_path: Path) -> None:
    thread_id, events = interrupted_run(host, server, ("refund", REFUND_ARGS))
    [interrupt] = events[-1].body["outcome"]["interrupts"]
    server.script(Reply(text="Understood, no refund."))
    resumed = resume(
        host, thread_id, {"interruptId": interrupt["id"], "status": "resolved", "payload": {"approved": False}}
    )
    assert resumed.status_code == 202, resumed.text
    after = host.stream(resumed.json()["stream_url"])
    assert [e.body["content"] for e in after if e.type == "TOOL_CALL_RESULT"] == [DECLINED]
    assert tool_runs(log_path) == []
    last = server.chat_requests()[-1]["messages"]
    assert {"role": "tool", "tool_call_id": interrupt["toolCallId"], "content": DECLINED} in last
    # The thread takes new input again.
    server.script(Reply(text="Hello again."))
    assert post(host, {"thread_id": thread_id, "message": "Thanks"}).status_code == 202
    host.wait_idle(thread_id)


def test_a_resume_repeated_concurrently_continues_the_thread_once(
    host: Devhost, server: OpenAIServer, log_path: Path
) -> None:
    thread_id, events = interrupted_run(host, server, ("refund", REFUND_ARGS))
    [interrupt] = events[-1].body["outcome"]["interrupts"]
    server.script(Reply(text="Refunded.", chunk_delay=0.02))
    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        answers = list(pool.map(lambda _: resume(host, thread_id, approve(interrupt["id"])), range(3)))
    assert [a.status_code for a in answers] == [202, 202, 202], [a.text for a in answers]
    assert len({a.json()["run_id"] for a in answers}) == 1
    host.wait_idle(thread_id)
    again = resume(host, thread_id, approve(interrupt["id"]))
    assert again.status_code == 202 and again.json()["run_id"] == answers[0].json()["run_id"]
    assert tool_runs(log_path) == [{"tool": "refund", "order_id": "A-1", "amount": 12.5}]
    assert len(host.status(thread_id)["runs"]) == 2
    assert len(server.chat_requests()) == 2


def test_resumes_that_do_not_fit_are_refused_and_write_nothing(host: Devhost, server: OpenAIServer) -> None:
    thread_id, events = interrupted_run(
        host, server, ("refund", REFUND_ARGS), ("refund", '{"order_id": "B-2", "amount": 1}')
    )
    first, second = events[-1].body["outcome"]["interrupts"]
    before = host.status(thread_id)
    cases = [
        ([approve(first["id"])], 400, "interrupt_unanswered"),
        ([approve(first["id"]), approve(second["id"]), approve("nope.call")], 404, "interrupt_not_found"),
        ([approve(first["id"]), {"interruptId": second["id"], "status": "maybe"}], 400, "invalid_resume"),
        ([approve(first["id"]), {"interruptId": second["id"], "status": "resolved"}], 400, "invalid_resume"),
    ]
    for answers, status, code in cases:
        refused = resume(host, thread_id, *answers)
        assert (refused.status_code, refused.json()["error"]["code"]) == (status, code), refused.text
    message_too = post(host, {"thread_id": thread_id, "message": "x", "resume": [approve(first["id"])]})
    assert (message_too.status_code, message_too.json()["error"]["code"]) == (400, "invalid_resume")
    assert host.status(thread_id) == before
    server.script(Reply(text="Both refunded."))
    both = resume(host, thread_id, approve(first["id"]), {"interruptId": second["id"], "status": "cancelled"})
    assert both.status_code == 202
    host.wait_idle(thread_id)


def test_an_expired_interrupt_can_only_be_declined(host: Devhost, server: OpenAIServer, log_path: Path) -> None:
    thread_id, events = interrupted_run(host, server, ("cancel_order", '{"order_id": "A-1"}'))
    [interrupt] = events[-1].body["outcome"]["interrupts"]
    expires_at = interrupt["expiresAt"]
    assert expires_at.endswith("Z")
    deadline = dt.datetime.fromisoformat(expires_at)
    wait_until(lambda: dt.datetime.now(dt.UTC) > deadline, timeout=10, message="the interrupt's expiry")
    late = resume(host, thread_id, approve(interrupt["id"]))
    assert late.json()["error"]["code"] == "interrupt_expired"
    server.script(Reply(text="Not cancelled."))
    declined = resume(host, thread_id, {"interruptId": interrupt["id"], "status": "cancelled"})
    assert declined.status_code == 202
    host.wait_idle(thread_id)
    assert tool_runs(log_path) == []


def test_a_parked_run_survives_a_host_kill(server: OpenAIServer, log_path: Path, tmp_path: Path) -> None:
    env = {
        "MODEL_PROVIDER": "openai",
        "OPENAI_API_KEY": "test-key",
        "OPENAI_BASE_URL": server.base_url,
        "APPROVAL_LOG": str(log_path),
    }
    host = Devhost(tmp_path / "data", env, app="tests.e2e.approval_app").start()
    try:
        thread_id, events = interrupted_run(host, server, ("refund", REFUND_ARGS))
        [interrupt] = events[-1].body["outcome"]["interrupts"]
        host.kill()
        host.start()
        server.script(Reply(text="Refunded after the restart."))
        resumed = resume(host, thread_id, approve(interrupt["id"]))
        assert resumed.status_code == 202, resumed.text
        after = host.stream(resumed.json()["stream_url"])
        assert after[-1].type == "RUN_FINISHED"
        assert tool_runs(log_path) == [{"tool": "refund", "order_id": "A-1", "amount": 12.5}]
    finally:
        host.stop()


def test_the_ag_ui_endpoint_interrupts_and_resumes_with_no_validator_findings(
    host: Devhost, server: OpenAIServer, log_path: Path
) -> None:
    url = f"{host.url}/api/agents/support/ag-ui"
    thread_id = f"agui-{uuid.uuid4().hex[:8]}"
    # Some text first: a turn of tool calls alone names a parent message the stream never opened,
    # which ag-ui-validate's AGUI208 reports (AG-UI clients create that message themselves).
    server.script(Reply(text="Let me ask first.", tool_calls=[("refund", REFUND_ARGS)], chunk_delay=0.02))
    first = {"threadId": thread_id, "runId": "ask", "messages": [{"id": "u1", "role": "user", "content": "Refund A-1"}]}
    asked = validate(url, input=first)
    assert_no_findings(asked, at_least=6)
    outcome = host.status(thread_id)["interrupts"]
    [interrupt] = outcome
    server.script(Reply(text="Refunded the whole amount.", chunk_delay=0.02))
    messages = host.status(thread_id)["messages"]
    second = {
        "threadId": thread_id,
        "runId": "answer",
        "messages": messages,
        "resume": [approve(interrupt["id"])],
    }
    assert_no_findings(validate(url, input=second), at_least=5)
    assert tool_runs(log_path) == [{"tool": "refund", "order_id": "A-1", "amount": 12.5}]
    assert host.status(thread_id)["runs"][-1]["status"] == "succeeded"
    # A reconnect to the idle thread replays it, with nothing left waiting.
    replayed = events(host, {"threadId": thread_id, "messages": []}, path="/api/agents/support/ag-ui")
    assert replayed[-1]["type"] == "RUN_FINISHED" and "outcome" not in replayed[-1]


def test_a_reconnect_to_an_interrupted_thread_replays_its_interrupts(host: Devhost, server: OpenAIServer) -> None:
    thread_id, stream = interrupted_run(host, server, ("refund", REFUND_ARGS))
    replayed = events(host, {"threadId": thread_id, "messages": []}, path="/api/agents/support/ag-ui")
    assert [e["type"] for e in replayed] == ["RUN_STARTED", "MESSAGES_SNAPSHOT", "RUN_FINISHED"]
    assert replayed[-1]["outcome"] == stream[-1].body["outcome"]


def test_the_python_client_and_the_cli_approve_and_reject(host: Devhost, server: OpenAIServer, log_path: Path) -> None:
    client = AgentStreamClient(host.url)
    server.script(Reply(tool_calls=[("refund", REFUND_ARGS)]))
    asked = client.run("Refund A-1", agent="support")
    result = asked.result()
    assert result.outcome == "interrupt"
    [interrupt] = result.interrupts
    assert (interrupt.tool_name, json.loads(interrupt.arguments)) == ("refund", json.loads(REFUND_ARGS))
    server.script(Reply(text="Refunded."))
    answered = client.run(thread_id=asked.thread_id, agent="support", resume=[interrupt.approve()]).result()
    assert answered.outcome == "success" and answered.text == "Refunded."
    assert tool_runs(log_path) == [{"tool": "refund", "order_id": "A-1", "amount": 12.5}]

    # The CLI, not on a terminal: it stops with the command to answer, then answers with --reject.
    cli = str(Path(sys.executable).parent / "agentstream")
    server.script(Reply(tool_calls=[("refund", '{"order_id": "B-2", "amount": 3}')]))
    parked = subprocess.run(
        [cli, "--url", host.url, "--agent", "support", "Refund B-2"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert parked.returncode == 3, parked.stderr
    thread_id = re.search(r"--thread ([0-9a-f]{32}) --approve", parked.stderr).group(1)  # type: ignore[union-attr]
    server.script(Reply(text="Not refunded."))
    rejected = subprocess.run(
        [cli, "--url", host.url, "--agent", "support", "--thread", thread_id, "--reject"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert rejected.returncode == 0, rejected.stderr
    assert rejected.stdout == "Not refunded.\n"
    assert f"← refund: {DECLINED}" in rejected.stderr
    assert tool_runs(log_path) == [{"tool": "refund", "order_id": "A-1", "amount": 12.5}]

    # With --approve given up front, an interrupt is answered as soon as it comes.
    server.script(Reply(tool_calls=[("refund", '{"order_id": "C-3", "amount": 4}')]), Reply(text="Done."))
    approved = subprocess.run(
        [cli, "--url", host.url, "--agent", "support", "--approve", "Refund C-3"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert approved.returncode == 0, approved.stderr
    assert approved.stdout.endswith("Done.\n")
    assert tool_runs(log_path)[-1] == {"tool": "refund", "order_id": "C-3", "amount": 4.0}


def test_a_plain_text_reader_is_told_what_the_run_waits_for(host: Devhost, server: OpenAIServer) -> None:
    server.script(Reply(text="One moment.", tool_calls=[("refund", REFUND_ARGS)], call_ids=["call_text"]))
    response = requests.post(
        f"{host.url}/api/agents/support/run",
        data="Refund A-1",
        headers={"Content-Type": "text/plain", "Accept": "text/plain"},
        timeout=30,
    )
    run_id = response.headers["x-run-id"]
    assert response.text == (
        f"One moment.\n[waiting for approval: Approve refund({REFUND_ARGS})? (interrupt {run_id}.call_text)]\n"
    )


def test_the_async_client_answers_interrupts_too(host: Devhost, server: OpenAIServer, log_path: Path) -> None:
    async def approve_then_finish() -> str:
        async with AsyncAgentStreamClient(host.url) as client:
            asked = await client.run("Refund A-1", agent="support")
            [interrupt] = (await asked.result()).interrupts
            answered = await client.run(thread_id=asked.thread_id, agent="support", resume=[interrupt.approve()])
            return (await answered.result()).text

    server.script(Reply(tool_calls=[("refund", REFUND_ARGS)]), Reply(text="Refunded."))
    assert asyncio.run(approve_then_finish()) == "Refunded."
    assert tool_runs(log_path) == [{"tool": "refund", "order_id": "A-1", "amount": 12.5}]
