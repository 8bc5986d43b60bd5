"""@ag-ui/client's HttpAgent (the reference TypeScript client, run by Node) against the AG-UI endpoint.

HttpAgent verifies every stream it reads and rejects the run on any ordering error, so a scenario
that completes is a stream the reference client accepts; its `messages` must then equal the
thread's committed conversation.
"""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path
from typing import Any

from tests.agui.stream import AGUI_PATH
from tests.harness import ROOT, Devhost

SCRIPT = Path(__file__).with_name("http_agent.mjs")
LONG = " ".join(["word"] * 400)


def run_http_agent(scenario: str, options: dict[str, Any]) -> dict[str, Any]:
    completed = subprocess.run(
        ["node", str(SCRIPT), scenario, json.dumps(options)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stderr
    return dict(json.loads(completed.stdout))


def test_http_agent_completes_a_run_with_tool_calls(agui_host: Devhost) -> None:
    thread = f"ts-{uuid.uuid4().hex[:8]}"
    output = run_http_agent(
        "run",
        {
            "url": f"{agui_host.url}{AGUI_PATH}",
            "threadId": thread,
            "messages": [{"id": "u1", "role": "user", "content": "What is the weather in Paris, and the time?"}],
        },
    )
    [run] = output["runs"]
    kinds = [event["type"] for event in run["events"]]
    assert kinds[0] == "RUN_STARTED" and kinds[-1] == "RUN_FINISHED"
    assert kinds.count("TOOL_CALL_START") == 2 and kinds.count("TOOL_CALL_RESULT") == 2
    assert output["messages"] == agui_host.status(thread)["messages"]


def test_http_agent_answers_a_frontend_tool_call_in_a_second_run(agui_host: Devhost) -> None:
    thread = f"ts-{uuid.uuid4().hex[:8]}"
    confirm = {
        "name": "confirm_booking",
        "description": "Ask the user to confirm a booking.",
        "parameters": {"type": "object", "properties": {"summary": {"type": "string"}}, "required": ["summary"]},
    }
    output = run_http_agent(
        "run",
        {
            "url": f"{agui_host.url}{AGUI_PATH}",
            "threadId": thread,
            "messages": [{"id": "u1", "role": "user", "content": "Please confirm_booking for Friday."}],
            "tools": [confirm],
            "answers": {"confirm_booking": "Confirmed by the user"},
        },
    )
    first, second = output["runs"]
    [call_id] = first["events"][-1]["outcome"]["pendingToolCallIds"]
    assert [e["toolCallName"] for e in first["events"] if e["type"] == "TOOL_CALL_START"] == ["confirm_booking"]
    assert second["events"][-1]["type"] == "RUN_FINISHED" and "outcome" not in second["events"][-1]
    messages = agui_host.status(thread)["messages"]
    assert output["messages"] == messages
    assert messages[2] == {
        "id": f"{call_id}.answer",
        "role": "tool",
        "toolCallId": call_id,
        "content": "Confirmed by the user",
    }
    assert messages[3]["content"] == "Here is what I found: Confirmed by the user."


def test_http_agent_that_drops_mid_run_recovers_through_hydration(agui_host: Devhost) -> None:
    thread = f"ts-{uuid.uuid4().hex[:8]}"
    output = run_http_agent(
        "reconnect",
        {
            "url": f"{agui_host.url}{AGUI_PATH}",
            "threadId": thread,
            "dropAfter": 5,
            "messages": [{"id": "u1", "role": "user", "content": LONG}],
        },
    )
    partial = output["dropped"][-1]
    assert partial["role"] == "assistant" and partial["content"]
    second = output["second"]
    assert [e["type"] for e in second[:4]] == [
        "RUN_STARTED",
        "MESSAGES_SNAPSHOT",
        "TEXT_MESSAGE_START",
        "TEXT_MESSAGE_CONTENT",
    ]
    assert second[0]["runId"] == output["first"][0]["runId"]
    assert second[2]["messageId"] == partial["id"]
    assert second[3]["delta"].startswith(partial["content"])
    assert second[-1]["type"] == "RUN_FINISHED"
    assert output["messages"] == agui_host.status(thread)["messages"]


def test_http_agent_follows_a_run_longer_than_one_response_by_calling_again(make_devhost) -> None:
    host: Devhost = make_devhost({"STREAM_MAX_SECONDS": "0.5", "DEMO_TOKENS_PER_SECOND": "100"})
    thread = f"ts-{uuid.uuid4().hex[:8]}"
    output = run_http_agent(
        "follow",
        {
            "url": f"{host.url}{AGUI_PATH}",
            "threadId": thread,
            "maxResponses": 60,
            "messages": [{"id": "u1", "role": "user", "content": " ".join(["word"] * 150)}],
        },
    )
    first, *rejoins = output["responses"]
    assert rejoins, "the run should outlast the first response"
    assert first[0]["type"] == "RUN_STARTED" and first[-1]["type"] == "TEXT_MESSAGE_CONTENT"
    for events in rejoins:
        assert [e["type"] for e in events[:2]] == ["RUN_STARTED", "MESSAGES_SNAPSHOT"]
    # The last call may come just after the run ended: then it is a replay of the idle thread.
    assert all(events[0]["runId"] == first[0]["runId"] for events in rejoins[:-1])
    assert rejoins[-1][-1]["type"] == "RUN_FINISHED"
    assert output["messages"] == host.status(thread)["messages"]
