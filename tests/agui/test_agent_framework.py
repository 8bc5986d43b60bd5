"""Agent Framework's AGUIChatClient (agent-framework-ag-ui, in its own virtualenv) streams a run
from the AG-UI endpoint: it posts snake_case ids and no context or forwardedProps."""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path

from tests.agui.stream import AGUI_PATH
from tests.harness import ROOT, Devhost

SCRIPT = Path(__file__).with_name("agent_framework_client.py")


def test_agent_framework_client_streams_a_run_with_a_tool_call(
    agui_host: Devhost, agent_framework_python: Path
) -> None:
    thread = f"af-{uuid.uuid4().hex[:8]}"
    completed = subprocess.run(
        [str(agent_framework_python), str(SCRIPT), f"{agui_host.url}{AGUI_PATH}", thread, "Weather in Paris?"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stderr
    updates = json.loads(completed.stdout)["updates"]

    contents = [content for update in updates for content in update["contents"]]
    assert [c["type"] for c in contents if c["type"] != "text"] == ["function_call"] * 3 + ["function_result"]
    status = agui_host.status(thread)
    [user, first, tool, final] = status["messages"]
    [call] = first["toolCalls"]
    assert {c["call_id"] for c in contents if c["type"] != "text"} == {call["id"]}
    assert (
        "".join(c.get("arguments", "") for c in contents if c["type"] == "function_call")
        == call["function"]["arguments"]
    )
    assert next(c["result"] for c in contents if c["type"] == "function_result") == tool["content"]
    text = "".join(c["text"] for c in contents if c["type"] == "text")
    assert text == first["content"] + final["content"]
    assert user["content"] == "Weather in Paris?" and status["runs"][0]["status"] == "succeeded"
