"""A real MCP server for the tests: the `mcp` package's MCPServer (formerly FastMCP) over Streamable
HTTP, served by uvicorn on a loopback port in a thread of the test process.

Three tools: `add` and `forecast`, which tests allow, and `wipe_disk`, which they leave out. With a
`token`, every request must carry `Authorization: Bearer <token>` (401 otherwise); the Authorization
header of every request is kept in `authorizations`, and every call in `calls`.
"""

from __future__ import annotations

import socket
import threading
from typing import Annotated, Any

import uvicorn
from mcp.server.mcpserver import MCPServer
from pydantic import Field

from tests.harness import wait_until

TOOL_NAMES = ("add", "forecast", "wipe_disk")


class MCPTestServer:
    def __init__(self, *, token: str | None = None) -> None:
        self.token = token
        self.authorizations: list[str | None] = []
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self.port = int(self._sock.getsockname()[1])
        self._server = uvicorn.Server(uvicorn.Config(self._app(), log_level="warning", lifespan="on"))
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._sock]}, name="mcp-server", daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/mcp"

    @property
    def is_running(self) -> bool:
        return self._thread.is_alive()

    def start(self) -> MCPTestServer:
        self._thread.start()
        wait_until(lambda: self._server.started or not self._thread.is_alive(), timeout=10, message="the MCP server")
        if not self._server.started:
            raise AssertionError("the MCP test server did not start")
        return self

    def stop(self) -> None:
        """Stop serving; when this returns, connections to the port are refused."""
        self._server.should_exit = True
        self._thread.join(timeout=10)
        assert not self._thread.is_alive(), "the MCP test server did not stop"
        self._sock.close()
        with socket.socket() as probe:
            assert probe.connect_ex(("127.0.0.1", self.port)) != 0, "the MCP server's port still accepts connections"

    def _app(self) -> Any:
        server = MCPServer("agentstream-tests")
        calls = self.calls

        @server.tool()
        def add(a: int, b: Annotated[int, Field(description="The second number")]) -> int:
            """Add two integers."""
            calls.append(("add", {"a": a, "b": b}))
            return a + b

        @server.tool()
        def forecast(city: str) -> str:
            """Tomorrow's weather in a city."""
            calls.append(("forecast", {"city": city}))
            if city == "Atlantis":
                raise ValueError("no forecast under the sea")
            return f"Sunny in {city}"

        @server.tool()
        def wipe_disk() -> str:
            """Erase everything (never allowed by the tests)."""
            calls.append(("wipe_disk", {}))
            return "wiped"

        app = server.streamable_http_app()

        async def checked(scope: Any, receive: Any, send: Any) -> None:
            if scope["type"] == "http":
                authorization = dict(scope["headers"]).get(b"authorization")
                self.authorizations.append(authorization.decode() if authorization is not None else None)
                if self.token is not None and authorization != f"Bearer {self.token}".encode():
                    await send({"type": "http.response.start", "status": 401, "headers": []})
                    await send({"type": "http.response.body", "body": b""})
                    return
            await app(scope, receive, send)

        return checked
