"""agentstream.MCPServer against a real MCP server over Streamable HTTP on a loopback port."""

from __future__ import annotations

import asyncio
import importlib.util
import logging
from collections.abc import Iterator

import pytest

import agentstream
from agentstream import Agent, ToolContext, tool
from agentstream.agent.mcp import MCPTool
from agentstream.agent.tools import ToolRegistry, UnknownTool
from agentstream.exceptions import ConfigError, MCPServerError, MCPToolError
from tests.harness import free_port
from tests.mcp_server import MCPTestServer

TOKEN = "tok-7f3a9c2e51d84b60"
CONTEXT = ToolContext("t1", "r1", "support", "call-1")


@pytest.fixture(scope="module")
def server() -> Iterator[MCPTestServer]:
    started = MCPTestServer(token=TOKEN).start()
    yield started
    started.stop()


@pytest.fixture(autouse=True)
def no_token_in_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TEST_MCP_TOKEN", raising=False)


def lookup_order(order_id: str) -> str:
    """Look up an order."""
    return order_id


def authorized(server: MCPTestServer, **options: object) -> agentstream.MCPServer:
    return agentstream.MCPServer(server.url, headers={"Authorization": f"Bearer {TOKEN}"}, **options)  # type: ignore[arg-type]


def test_only_the_allowed_tools_are_listed_with_the_server_s_schemas(server: MCPTestServer) -> None:
    tools = asyncio.run(authorized(server, allowed_tools=["add", "forecast"]).list_tools())
    assert [item.spec() for item in tools] == [
        {
            "name": "add",
            "description": "Add two integers.",
            "parameters": {
                "type": "object",
                "properties": {
                    "a": {"title": "A", "type": "integer"},
                    "b": {"title": "B", "type": "integer", "description": "The second number"},
                },
                "required": ["a", "b"],
                "title": "addArguments",
            },
        },
        {
            "name": "forecast",
            "description": "Tomorrow's weather in a city.",
            "parameters": {
                "type": "object",
                "properties": {"city": {"title": "City", "type": "string"}},
                "required": ["city"],
                "title": "forecastArguments",
            },
        },
    ]


def test_a_call_runs_the_tool_with_the_arguments_and_returns_its_text(server: MCPTestServer) -> None:
    [add] = [item for item in asyncio.run(authorized(server).list_tools()) if item.name == "add"]
    calls_before = len(server.calls)
    assert asyncio.run(add.call('{"a": 2, "b": 40}', CONTEXT)) == "42"
    assert server.calls[calls_before:] == [("add", {"a": 2, "b": 40})]


def test_a_failing_tool_and_bad_arguments_raise_what_the_model_reads(server: MCPTestServer) -> None:
    mcp_server = authorized(server)
    tools = {item.name: item for item in asyncio.run(mcp_server.list_tools())}
    with pytest.raises(MCPToolError, match="Error executing tool forecast"):
        asyncio.run(tools["forecast"].call('{"city": "Atlantis"}', CONTEXT))
    with pytest.raises(MCPToolError, match="validation error"):
        asyncio.run(tools["add"].call('{"a": "many"}', CONTEXT))
    with pytest.raises(ValueError, match="expected a JSON object"):
        asyncio.run(tools["add"].call("[1, 2]", CONTEXT))
    with pytest.raises(ValueError, match="not JSON"):
        asyncio.run(tools["add"].call('{"a": 1', CONTEXT))


def test_approval_is_recorded_per_tool(server: MCPTestServer) -> None:
    def approvals(approval: object) -> dict[str, str]:
        tools = asyncio.run(authorized(server, approval=approval).list_tools())
        return {item.name: item.approval for item in tools}

    assert approvals("never") == {"add": "never", "forecast": "never", "wipe_disk": "never"}
    assert approvals("always") == {"add": "always", "forecast": "always", "wipe_disk": "always"}
    assert approvals(["wipe_disk"]) == {"add": "never", "forecast": "never", "wipe_disk": "always"}


def test_headers_come_from_a_setting_read_at_each_session(
    server: MCPTestServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    mcp_server = agentstream.MCPServer(
        server.url, headers={"Authorization": agentstream.setting("TEST_MCP_TOKEN", prefix="Bearer ")}
    )
    with pytest.raises(ConfigError, match="Config 'TEST_MCP_TOKEN' is not set"):
        asyncio.run(mcp_server.list_tools())
    monkeypatch.setenv("TEST_MCP_TOKEN", TOKEN)
    seen = len(server.authorizations)
    assert len(asyncio.run(mcp_server.list_tools())) == 3
    assert server.authorizations[seen:] and set(server.authorizations[seen:]) == {f"Bearer {TOKEN}"}
    assert TOKEN not in repr(mcp_server) and TOKEN not in repr(asyncio.run(mcp_server.list_tools()))


def test_headers_can_come_from_an_async_function(server: MCPTestServer) -> None:
    async def fresh_token() -> dict[str, str]:
        return {"Authorization": f"Bearer {TOKEN}"}

    assert len(asyncio.run(agentstream.MCPServer(server.url, headers=fresh_token).list_tools())) == 3


def test_the_list_is_cached_per_process_for_cache_seconds(server: MCPTestServer) -> None:
    cached = authorized(server, cache_seconds=60)
    first = asyncio.run(cached.list_tools())
    requests_after_first = len(server.authorizations)
    assert asyncio.run(cached.list_tools()) is first
    assert len(server.authorizations) == requests_after_first
    uncached = authorized(server, cache_seconds=0)
    asyncio.run(uncached.list_tools())
    requests_after_second = len(server.authorizations)
    asyncio.run(uncached.list_tools())
    assert len(server.authorizations) > requests_after_second


def test_a_refused_or_unreachable_server_raises_without_url_or_token(
    server: MCPTestServer, caplog: pytest.LogCaptureFixture
) -> None:
    wrong = agentstream.MCPServer(server.url, name="docs", headers={"Authorization": "Bearer wrong-secret-123"})
    gone = agentstream.MCPServer(f"http://127.0.0.1:{free_port()}/mcp?key=url-secret-456")
    tool_of_gone = MCPTool("add", "Add.", {"type": "object"}, gone)
    with caplog.at_level(logging.DEBUG):
        with pytest.raises(MCPServerError) as refused:
            asyncio.run(wrong.list_tools())
        with pytest.raises(MCPServerError, match=r"could not list its tools: ConnectError\.$") as unreachable:
            asyncio.run(gone.list_tools())
        with pytest.raises(MCPServerError, match=r"failed to run 'add': ConnectError\.$") as failed:
            asyncio.run(tool_of_gone.call('{"a": 1, "b": 2}', CONTEXT))
    assert str(refused.value).startswith("MCP server 'docs' could not list its tools: error ")
    for error in (refused.value, unreachable.value, failed.value):
        assert "secret" not in str(error) and "/mcp" not in str(error)
    # Header values reach no log line, even at DEBUG (the libraries' own DEBUG lines show URLs).
    assert "Authorization" not in caplog.text and "wrong-secret-123" not in caplog.text


def test_a_registry_loads_the_sources_and_leaves_out_what_cannot_be_listed(server: MCPTestServer) -> None:
    gone = agentstream.MCPServer(f"http://127.0.0.1:{free_port()}/mcp", name="gone")
    registry = ToolRegistry([tool(lookup_order), authorized(server, allowed_tools=["add"]), gone])
    assert "add" not in registry and registry.specs() == [tool(lookup_order).spec()]
    loaded = asyncio.run(registry.load())
    assert [spec["name"] for spec in loaded.specs()] == ["lookup_order", "add"]
    assert "add" in loaded and "forecast" not in loaded
    with pytest.raises(UnknownTool, match="MCP server 'gone' could not list its tools: ConnectError"):
        loaded.get("forecast")
    agent = Agent(name="support", tools=[tool(lookup_order), authorized(server, allowed_tools=["add"]), gone])
    info = agent.info(asyncio.run(agent.registry.load()))
    assert [spec["name"] for spec in info["tools"]] == ["lookup_order", "add"]  # type: ignore[attr-defined]
    assert info["mcp_servers"] == [
        {"name": f"127.0.0.1:{server.port}", "tools": ["add"]},
        {"name": "gone", "tools": [], "error": "MCP server 'gone' could not list its tools: ConnectError."},
    ]
    assert "mcp_servers" not in Agent(name="plain", tools=[tool(lookup_order)]).info()


def test_a_listed_tool_named_like_an_agent_tool_is_left_out(server: MCPTestServer) -> None:
    def add(a: int) -> int:
        """The agent's own add."""
        return a

    loaded = asyncio.run(ToolRegistry([tool(add), authorized(server)]).load())
    assert loaded.get("add").spec()["description"] == "The agent's own add."
    assert [listing.tools for listing in loaded.listings] == [("forecast", "wipe_disk")]


def test_without_the_mcp_extra_declaring_a_server_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None if name == "mcp" else real_find_spec(name))
    with pytest.raises(ImportError, match=r"pip install 'agentstream\[mcp\]'"):
        agentstream.MCPServer("http://127.0.0.1/mcp")


def test_bad_configuration_is_refused_when_the_server_is_declared() -> None:
    with pytest.raises(ValueError, match="http:// or https://"):
        agentstream.MCPServer("ftp://host/mcp")
    with pytest.raises(TypeError, match="allowed_tools takes a list"):
        agentstream.MCPServer("http://127.0.0.1/mcp", allowed_tools="add")
    with pytest.raises(TypeError, match="approval takes"):
        agentstream.MCPServer("http://127.0.0.1/mcp", approval="sometimes")  # type: ignore[arg-type]
