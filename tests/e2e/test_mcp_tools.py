"""Remote MCP tools end to end: devhost serves an app whose agents use real MCP servers (Streamable
HTTP on loopback ports, started here), with the model played by the local OpenAI-compatible server."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import requests

from tests.checks import assert_contiguous, assert_well_ordered_run
from tests.e2e.test_openai_runs import openai_env
from tests.harness import Devhost, StreamEvent
from tests.mcp_server import MCPTestServer
from tests.openai_server import OpenAIServer, Reply

TOKEN = "mcp-token-5b1e0c93d7a24f68"
TERMINAL = ("RUN_FINISHED", "RUN_ERROR")


@pytest.fixture(scope="module")
def server() -> Iterator[OpenAIServer]:
    started = OpenAIServer().start()
    yield started
    started.stop()


@pytest.fixture(scope="module")
def tools() -> Iterator[MCPTestServer]:
    started = MCPTestServer(token=TOKEN).start()
    yield started
    started.stop()


@pytest.fixture(scope="module")
def fragile() -> Iterator[MCPTestServer]:
    """Stopped by the test that uses it."""
    started = MCPTestServer().start()
    yield started
    if started.is_running:
        started.stop()


@pytest.fixture(scope="module")
def host(
    server: OpenAIServer, tools: MCPTestServer, fragile: MCPTestServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Devhost]:
    env = openai_env(
        server,
        STEP_MAX_ATTEMPTS="2",
        TEST_MCP_URL=tools.url,
        TEST_MCP_TOKEN=TOKEN,
        TEST_FRAGILE_MCP_URL=fragile.url,
    )
    started = Devhost(tmp_path_factory.mktemp("mcp") / "data", env, app="tests.e2e.mcp_app").start()
    yield started
    started.stop()


@pytest.fixture(autouse=True)
def fresh(server: OpenAIServer) -> Iterator[None]:
    server.reset()
    yield
    assert server.pending_replies == 0, "a scripted reply was never asked for"


def run_to_the_end(host: Devhost, agent: str, message: str) -> tuple[dict[str, str], list[StreamEvent]]:
    response = requests.post(f"{host.url}/api/agents/{agent}/run", json={"message": message}, timeout=30)
    assert response.status_code == 202, response.text
    started = response.json()
    events = host.stream(started["stream_url"])
    assert_contiguous(events, events[0].id)
    assert_well_ordered_run(events)
    assert [e.type for e in events if e.type in TERMINAL] == ["RUN_FINISHED"]
    assert events[-1].type == "RUN_FINISHED"
    return started, events


def offered(request: dict[str, object]) -> list[str]:
    return [item["function"]["name"] for item in request["tools"]]  # type: ignore[attr-defined, index]


def test_the_allowed_tools_are_offered_and_a_call_s_result_streams(
    host: Devhost, server: OpenAIServer, tools: MCPTestServer
) -> None:
    server.script(
        Reply(tool_calls=[("add", '{"a": 2, "b": 40}')], call_ids=["call_add"]),
        Reply(text="2 + 40 = 42."),
    )
    calls_before = len(tools.calls)
    started, events = run_to_the_end(host, "remote", "What is 2 + 40?")

    first, second = server.chat_requests()
    assert offered(first) == offered(second) == ["add", "forecast"]
    assert first["tools"][0]["function"]["parameters"]["properties"]["b"] == {
        "title": "B",
        "type": "integer",
        "description": "The second number",
    }
    [start] = [e.body for e in events if e.type == "TOOL_CALL_START"]
    assert (start["toolCallId"], start["toolCallName"]) == ("call_add", "add")
    [result] = [e.body for e in events if e.type == "TOOL_CALL_RESULT"]
    assert (result["toolCallId"], result["content"]) == ("call_add", "42")
    assert tools.calls[calls_before:] == [("add", {"a": 2, "b": 40})]
    assert [m for m in second["messages"] if m["role"] == "tool"] == [
        {"role": "tool", "tool_call_id": "call_add", "content": "42"}
    ]
    assert host.status(started["thread_id"])["runs"][-1]["status"] == "succeeded"


def test_the_token_reaches_the_server_and_no_event_status_or_log_line(
    host: Devhost, server: OpenAIServer, tools: MCPTestServer
) -> None:
    server.script(Reply(tool_calls=[("forecast", '{"city": "Oslo"}')]), Reply(text="Sunny."))
    seen_before = len(tools.authorizations)
    started, events = run_to_the_end(host, "remote", "Weather in Oslo tomorrow?")

    assert [e.body["content"] for e in events if e.type == "TOOL_CALL_RESULT"] == ["Sunny in Oslo"]
    # The call's session, and the listing's unless the list was still cached: each request carried the token.
    assert tools.authorizations[seen_before:] and set(tools.authorizations[seen_before:]) == {f"Bearer {TOKEN}"}
    whole_thread = host.stream(f"/api/agent/stream/{started['thread_id']}")
    assert TOKEN not in json.dumps([e.body for e in whole_thread])
    assert TOKEN not in json.dumps(host.status(started["thread_id"]))
    agents = requests.get(f"{host.url}/api/agents", timeout=30).text
    assert TOKEN not in agents
    log = host.log_path.read_text()
    assert f"Run {started['run_id']} ended succeeded" in log, "the log is the one this devhost writes"
    assert TOKEN not in log and "Bearer" not in log


def test_a_tool_left_out_of_allowed_tools_cannot_be_called(
    host: Devhost, server: OpenAIServer, tools: MCPTestServer
) -> None:
    server.script(Reply(tool_calls=[("wipe_disk", "{}")], call_ids=["call_wipe"]), Reply(text="I cannot."))
    _, events = run_to_the_end(host, "remote", "Wipe the disk.")
    [result] = [e.body for e in events if e.type == "TOOL_CALL_RESULT"]
    assert result["content"] == "Error: UnknownTool: No server tool named 'wipe_disk'. Known tools: add, forecast."
    assert ("wipe_disk", {}) not in tools.calls


def test_a_client_tool_may_not_take_the_name_of_a_server_s_tool(host: Devhost, server: OpenAIServer) -> None:
    declared = {"name": "forecast", "description": "The browser's forecast.", "parameters": {"type": "object"}}
    response = requests.post(
        f"{host.url}/api/agents/remote/run", json={"message": "Forecast?", "tools": [declared]}, timeout=30
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_tools"
    assert "forecast" in response.json()["error"]["message"]
    assert server.chat_requests() == []


def test_the_agents_route_lists_the_servers_tools(host: Devhost, tools: MCPTestServer) -> None:
    response = requests.get(f"{host.url}/api/agents", timeout=30)
    assert response.status_code == 200
    remote = next(agent for agent in response.json()["agents"] if agent["name"] == "remote")
    assert [spec["name"] for spec in remote["tools"]] == ["add", "forecast"]
    assert remote["tools"][1] == {
        "name": "forecast",
        "description": "Tomorrow's weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"title": "City", "type": "string"}},
            "required": ["city"],
            "title": "forecastArguments",
        },
    }
    assert remote["mcp_servers"] == [{"name": "tools", "tools": ["add", "forecast"]}]


def test_a_server_stopped_mid_run_gives_the_model_an_error_result(
    host: Devhost, server: OpenAIServer, fragile: MCPTestServer
) -> None:
    # The model step lists the tools before it calls the model; the model's reply stops the server,
    # so the tool step finds it gone.
    server.script(
        Reply(tool_calls=[("forecast", '{"city": "Paris"}')], call_ids=["call_gone"], before=fragile.stop),
        Reply(text="The forecast service is down."),
    )
    started, events = run_to_the_end(host, "fragile", "Weather in Paris tomorrow?")

    error = "Error: MCPServerError: MCP server 'fragile' failed to run 'forecast': ConnectError."
    [result] = [e.body for e in events if e.type == "TOOL_CALL_RESULT"]
    assert (result["toolCallId"], result["content"]) == ("call_gone", error)
    assert fragile.calls == []
    second = server.chat_requests()[1]
    assert [m for m in second["messages"] if m["role"] == "tool"] == [
        {"role": "tool", "tool_call_id": "call_gone", "content": error}
    ]
    status = host.status(started["thread_id"])
    assert status["runs"][-1]["status"] == "succeeded"
    assert status["messages"][-1]["content"] == "The forecast service is down."


def test_a_server_tool_that_needs_approval_waits_for_the_resume(
    host: Devhost, server: OpenAIServer, tools: MCPTestServer
) -> None:
    server.script(Reply(tool_calls=[("forecast", '{"city": "Oslo"}')], call_ids=["call_forecast"]))
    calls_before = len(tools.calls)
    started, events = run_to_the_end(host, "careful", "Forecast for Oslo?")
    [interrupt] = events[-1].body["outcome"]["interrupts"]
    assert (interrupt["toolCallId"], interrupt["reason"]) == ("call_forecast", "tool_call")
    assert tools.calls[calls_before:] == []

    server.script(Reply(text="Sunny in Oslo."))
    resumed = requests.post(
        f"{host.url}/api/agents/careful/run",
        json={
            "thread_id": started["thread_id"],
            "resume": [{"interruptId": interrupt["id"], "status": "resolved", "payload": {"approved": True}}],
        },
        timeout=30,
    )
    assert resumed.status_code == 202, resumed.text
    after = host.stream(resumed.json()["stream_url"])
    assert [e.body["toolCallId"] for e in after if e.type == "TOOL_CALL_RESULT"] == ["call_forecast"]
    assert tools.calls[calls_before:] == [("forecast", {"city": "Oslo"})]
