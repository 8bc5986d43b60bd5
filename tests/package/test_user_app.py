"""As a team would use it: `pip install` the repository into a fresh virtualenv, write an app with two
agents outside the repository, serve it with `agentstream-devhost`, and drive it over HTTP with the
real `openai` SDK talking to a local OpenAI-compatible server.

And the client distribution alone: it installs with no Azure package, and its CLI and its async client
complete runs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from agentstream_client.sse import SSEDecoder
from tests.harness import ROOT, free_port, wait_until
from tests.openai_server import OpenAIServer, Reply

USER_APP = '''
from typing import Annotated

import agentstream
from agentstream import Agent, ToolContext, tool


@tool
def lookup_order(order_id: Annotated[str, "The order number, e.g. A-1001"]) -> str:
    """Look up the status of an order."""
    return f"Order {order_id}: shipped"


@tool
async def order_eta(order_id: Annotated[str, "The order number"], context: ToolContext) -> str:
    """When an order arrives."""
    return f"Order {order_id} arrives Tuesday (agent {context.agent})"


support = Agent(
    name="support",
    description="Contoso's support agent.",
    instructions="You are Contoso's support agent.",
    tools=[lookup_order, order_eta],
)
editor = Agent(name="editor", instructions="You edit text. Be brief.")
app = agentstream.AgentFunctionApp(agents=[support, editor])
'''

SUPPORT_TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "lookup_order",
            "description": "Look up the status of an order.",
            "parameters": {
                "type": "object",
                "properties": {"order_id": {"type": "string", "description": "The order number, e.g. A-1001"}},
                "required": ["order_id"],
                "additionalProperties": False,
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "order_eta",
            "description": "When an order arrives.",
            "parameters": {
                "type": "object",
                "properties": {"order_id": {"type": "string", "description": "The order number"}},
                "required": ["order_id"],
                "additionalProperties": False,
            },
        },
    },
]


ASYNC_CLIENT = """
import asyncio
import sys

from agentstream_client import AsyncAgentStreamClient


async def main() -> None:
    async with AsyncAgentStreamClient(sys.argv[1]) as client:
        run = await client.run("Edit: goodbye", agent="editor")
        text = "".join([chunk async for chunk in run.consume()])
        print(text, (await run.result()).outcome)


asyncio.run(main())
"""


def make_venv(path: Path, *packages: str) -> Path:
    """A fresh virtualenv with `packages` pip-installed (not editable); returns its bin folder."""
    subprocess.run([sys.executable, "-m", "venv", str(path)], check=True, timeout=120)
    bin_dir = path / "bin"
    subprocess.run(
        [str(bin_dir / "pip"), "install", "--quiet", "--disable-pip-version-check", *packages],
        check=True,
        timeout=600,
        capture_output=True,
    )
    return bin_dir


def clean_env(**settings: str) -> dict[str, str]:
    """No PYTHONPATH or virtualenv of the test run leaks in: the app sees only what it installed."""
    keep = {name: os.environ[name] for name in ("HOME", "LANG", "TMPDIR") if name in os.environ}
    return {**keep, "PATH": "/usr/bin:/bin", "PYTHONUNBUFFERED": "1", **settings}


@pytest.fixture(scope="module")
def model_server() -> Iterator[OpenAIServer]:
    server = OpenAIServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def user_app(tmp_path_factory: pytest.TempPathFactory, model_server: OpenAIServer) -> Iterator[str]:
    """The user's app, outside the repository, served by the installed `agentstream-devhost`."""
    root = tmp_path_factory.mktemp("user")
    bin_dir = make_venv(root / "venv", str(ROOT))
    app_dir = root / "contoso-support"
    app_dir.mkdir()
    (app_dir / "function_app.py").write_text(textwrap.dedent(USER_APP))
    port = free_port()
    env = clean_env(
        MODEL_PROVIDER="openai",
        OPENAI_BASE_URL=model_server.base_url,
        OPENAI_API_KEY="test-key",
        STEP_RETRY_INTERVAL_MS="50",
    )
    log = (root / "devhost.log").open("wb")
    process = subprocess.Popen(
        [str(bin_dir / "agentstream-devhost"), "--port", str(port), "--data-dir", str(root / "data")],
        cwd=app_dir,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"devhost exited:\n{(root / 'devhost.log').read_text()}")
        try:
            return requests.get(f"{url}/api/health", timeout=1).status_code == 200
        except requests.RequestException:
            return False

    wait_until(healthy, timeout=60, message="the user's app to serve")
    yield url
    process.terminate()
    process.wait(timeout=10)


def events_of(url: str, stream_url: str) -> list[dict]:
    decoder = SSEDecoder()
    events = []
    with requests.get(url + stream_url, stream=True, timeout=30) as response:
        assert response.status_code == 200, response.text
        for chunk in response.iter_content(chunk_size=None):
            events += [json.loads(event.data) for event in decoder.decode(chunk)]
    return events


def test_the_app_lists_its_agents_with_their_tool_schemas(user_app: str) -> None:
    response = requests.get(f"{user_app}/api/agents", timeout=10)
    assert response.status_code == 200
    assert response.json() == {
        "agents": [
            {
                "name": "support",
                "description": "Contoso's support agent.",
                "tools": [tool["function"] for tool in SUPPORT_TOOLS],
                "multitask_strategy": "reject",
            },
            {"name": "editor", "description": "", "tools": [], "multitask_strategy": "reject"},
        ]
    }


def test_an_agent_runs_with_its_instructions_and_exactly_its_tools(user_app: str, model_server: OpenAIServer) -> None:
    model_server.reset()
    model_server.script(
        Reply(tool_calls=[("lookup_order", '{"order_id": "A-1001"}'), ("order_eta", '{"order_id": "A-1001"}')]),
        Reply(text="Your order A-1001 has shipped and arrives Tuesday."),
    )
    started = requests.post(f"{user_app}/api/agents/support/run", json={"message": "Where is A-1001?"}, timeout=10)
    assert started.status_code == 202, started.text
    body = started.json()
    assert body["stream_url"].startswith(f"/api/agent/stream/{body['thread_id']}")
    events = events_of(user_app, body["stream_url"])
    results = {e["toolCallId"]: e["content"] for e in events if e["type"] == "TOOL_CALL_RESULT"}
    assert sorted(results.values()) == ["Order A-1001 arrives Tuesday (agent support)", "Order A-1001: shipped"]
    assert events[-1]["type"] == "RUN_FINISHED"
    assistant = {e["messageId"] for e in events if e["type"] == "TEXT_MESSAGE_START" and e["role"] == "assistant"}
    text = "".join(e["delta"] for e in events if e["type"] == "TEXT_MESSAGE_CONTENT" and e["messageId"] in assistant)
    assert text == "Your order A-1001 has shipped and arrives Tuesday."

    first, second = model_server.chat_requests()
    for request in (first, second):
        assert request["messages"][0] == {"role": "system", "content": "You are Contoso's support agent."}
        assert request["tools"] == SUPPORT_TOOLS
    assert first["messages"][1:] == [{"role": "user", "content": "Where is A-1001?"}]
    assert [m["role"] for m in second["messages"]] == ["system", "user", "assistant", "tool", "tool"]

    status = requests.get(f"{user_app}/api/agent/threads/{body['thread_id']}", timeout=10).json()
    assert status["agent"] == "support"
    # The instructions are sent, never stored.
    assert [m["role"] for m in status["messages"]] == ["user", "assistant", "tool", "tool", "assistant"]


def test_each_agent_gets_only_its_own_instructions_and_tools(user_app: str, model_server: OpenAIServer) -> None:
    model_server.reset()
    model_server.script(Reply(text="Shorter."))
    started = requests.post(
        f"{user_app}/api/agents/editor/run", json={"message": "Please make this text shorter."}, timeout=10
    )
    assert started.status_code == 202, started.text
    events = events_of(user_app, started.json()["stream_url"])
    assert events[-1]["type"] == "RUN_FINISHED"
    [request] = model_server.chat_requests()
    assert request["messages"] == [
        {"role": "system", "content": "You edit text. Be brief."},
        {"role": "user", "content": "Please make this text shorter."},
    ]
    assert "tools" not in request


def test_unknown_agents_and_threads_of_another_agent_are_refused(user_app: str, model_server: OpenAIServer) -> None:
    model_server.reset()
    missing = requests.post(f"{user_app}/api/agents/billing/run", json={"message": "Hi"}, timeout=10)
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "agent_not_found"
    missing_agui = requests.post(f"{user_app}/api/agents/billing/ag-ui", json={"messages": []}, timeout=10)
    assert (missing_agui.status_code, missing_agui.json()["error"]["code"]) == (404, "agent_not_found")

    model_server.script(Reply(text="Hello."))
    started = requests.post(f"{user_app}/api/agents/support/run", json={"message": "Hi"}, timeout=10).json()
    events_of(user_app, started["stream_url"])
    thread_id = started["thread_id"]
    before = requests.get(f"{user_app}/api/agent/threads/{thread_id}", timeout=10).json()

    wrong = requests.post(
        f"{user_app}/api/agents/editor/run", json={"message": "Edit this", "thread_id": thread_id}, timeout=10
    )
    assert wrong.status_code == 409
    assert wrong.json()["error"] == {
        "code": "agent_mismatch",
        "message": f"Thread '{thread_id}' belongs to agent 'support', not 'editor'.",
    }
    wrong_agui = requests.post(
        f"{user_app}/api/agents/editor/ag-ui",
        json={"threadId": thread_id, "messages": [{"id": "u9", "role": "user", "content": "Edit this"}]},
        timeout=10,
    )
    assert (wrong_agui.status_code, wrong_agui.json()["error"]["code"]) == (409, "agent_mismatch")
    after = requests.get(f"{user_app}/api/agent/threads/{thread_id}", timeout=10).json()
    assert after == before
    assert len(model_server.chat_requests()) == 1

    # The unnamed route serves the first agent, so it may continue the thread.
    model_server.script(Reply(text="Again."))
    again = requests.post(f"{user_app}/api/agent/run", json={"message": "Again", "thread_id": thread_id}, timeout=10)
    assert again.status_code == 202, again.text
    events_of(user_app, again.json()["stream_url"])
    assert model_server.chat_requests()[-1]["messages"][0]["content"] == "You are Contoso's support agent."


def test_the_client_installs_without_azure_and_its_cli_and_async_client_complete_runs(
    tmp_path: Path, user_app: str, model_server: OpenAIServer
) -> None:
    bin_dir = make_venv(tmp_path / "client-venv", str(ROOT / "clients" / "python"))
    installed = subprocess.run(
        [str(bin_dir / "pip"), "list", "--format=json"], check=True, capture_output=True, text=True, timeout=60
    )
    names = {package["name"].lower() for package in json.loads(installed.stdout)}
    assert "agentstream-client" in names
    assert not [name for name in names if name.startswith("azure")], sorted(names)
    assert "agentstream" not in names and "httpx" in names

    model_server.reset()
    model_server.script(Reply(text="Nothing to edit."), Reply(text="Still nothing."))
    for command, expected in (
        (["agentstream", "--url", user_app, "--agent", "editor", "Edit: hello there"], "Nothing to edit.\n"),
        (["python", "-c", ASYNC_CLIENT, user_app], "Still nothing. success\n"),
    ):
        done = subprocess.run(
            [str(bin_dir / command[0]), *command[1:]], env=clean_env(), capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout == expected
    requests_seen = model_server.chat_requests()
    assert [request["messages"][0]["content"] for request in requests_seen] == ["You edit text. Be brief."] * 2
