"""Remote tools from an MCP server over Streamable HTTP (needs the extra: `pip install 'agentstream[mcp]'`).

```python
docs = agentstream.MCPServer(
    "https://tools.example.com/mcp",
    headers={"Authorization": agentstream.setting("DOCS_MCP_TOKEN", prefix="Bearer ")},
    allowed_tools=["search", "fetch_page"],
)
support = Agent(name="support", instructions="...", tools=[lookup_order, docs])
```

The server's tools are listed when a model step needs them and kept per process for `cache_seconds`;
each is offered to the model with the server's own JSON schema. Each call is its own session: a tool
step is a durable activity, which may run in another process, or run again. A server that cannot be
reached and a tool that fails give the model an error result; a server that cannot list its tools
leaves them out of that step. Header values are read per session (settings, or a function for
tokens that expire) and are never logged or written to the thread; the server is named in logs and
errors by `name` (by default the URL's host), never by its URL, which may itself carry a secret.
"""

from __future__ import annotations

import asyncio
import importlib.util
import inspect
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

from ..config import Setting
from ..exceptions import MCPServerError, MCPToolError
from .tools import TOOL_NAME, ToolContext, ToolSource

if TYPE_CHECKING:
    from mcp import Client
    from mcp.types import CallToolResult, Tool as ListedTool

logger = logging.getLogger(__name__)

Approval = Literal["always", "never"]
Headers = Mapping[str, str | Setting] | Callable[[], Mapping[str, str] | Awaitable[Mapping[str, str]]]

# A server that pages its tool list forever must not hang a step.
MAX_LIST_PAGES = 100


@dataclass(frozen=True, slots=True)
class MCPTool:
    """One tool of an MCP server, as the model is offered it."""

    name: str
    description: str
    parameters: dict[str, Any]
    server: MCPServer = field(repr=False, compare=False)
    #: "always" when a call needs a person's approval first (the server's `approval=`).
    approval: Approval = "never"
    #: Seconds an approval request stays answerable (the server's `approval_expires_after=`).
    approval_expires_after: float | None = None

    def spec(self) -> dict[str, Any]:
        return {"name": self.name, "description": self.description, "parameters": self.parameters}

    def check_arguments(self, arguments_json: str) -> None:
        # The server checks them against its schema when called; here only their shape.
        self._arguments(arguments_json)

    async def call(self, arguments_json: str, context: ToolContext) -> str:
        return await self.server.call_tool(self.name, self._arguments(arguments_json))

    @staticmethod
    def _arguments(arguments_json: str) -> dict[str, Any]:
        try:
            arguments = json.loads(arguments_json or "{}")
        except json.JSONDecodeError as exc:
            raise ValueError(f"invalid arguments: not JSON ({exc.msg})") from None
        if not isinstance(arguments, dict):
            raise ValueError("invalid arguments: expected a JSON object")
        return arguments


class MCPServer(ToolSource):
    """An MCP server whose tools an agent may call: put it in the agent's `tools`.

    Parameters:
        url: the server's Streamable HTTP endpoint (http:// or https://), e.g. `https://host/mcp`.
        name: how logs, errors and `GET /api/agents` name the server; by default the URL's host.
        headers: sent with every request: values are strings or `agentstream.setting(...)`, read when
            a session opens; or a function (sync or async) returning all headers, e.g. for a token
            that expires.
        allowed_tools: the only tools offered to the model; by default every tool the server lists.
        approval: "always" (each call needs a person's approval), "never" (the default), or the
            names of the tools that need it.
        approval_expires_after: seconds an approval request stays answerable (default: until answered).
        timeout: seconds to connect and list the tools.
        call_timeout: seconds a tool call may take, connecting included.
        cache_seconds: how long a process keeps the tool list before listing again.
    """

    def __init__(
        self,
        url: str,
        *,
        name: str | None = None,
        headers: Headers | None = None,
        allowed_tools: Collection[str] | None = None,
        approval: Approval | Collection[str] = "never",
        approval_expires_after: float | None = None,
        timeout: float = 10.0,
        call_timeout: float = 300.0,
        cache_seconds: float = 60.0,
    ) -> None:
        if importlib.util.find_spec("mcp") is None:
            raise ImportError("agentstream.MCPServer needs the mcp package: pip install 'agentstream[mcp]'.")
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("MCPServer url must be an http:// or https:// URL, e.g. https://tools.example.com/mcp.")
        if isinstance(allowed_tools, str) or (isinstance(approval, str) and approval not in ("always", "never")):
            raise TypeError(
                "MCPServer: allowed_tools takes a list of tool names; approval takes 'always', 'never' "
                "or a list of tool names."
            )
        self.url = url
        self.name = name or parts.netloc.rpartition("@")[2]
        self.headers = headers
        self.allowed_tools = frozenset(allowed_tools) if allowed_tools is not None else None
        self.approval = approval
        self.approval_expires_after = approval_expires_after
        self.timeout = timeout
        self.call_timeout = call_timeout
        self.cache_seconds = cache_seconds
        self._listed: tuple[float, list[MCPTool]] | None = None

    def __repr__(self) -> str:
        return f"MCPServer(name={self.name!r})"

    async def list_tools(self) -> list[MCPTool]:
        """The tools offered to the model, from this process's cache while it is fresh.

        Raises MCPServerError when the server cannot list them.
        """
        if self._listed is not None and time.monotonic() - self._listed[0] < self.cache_seconds:
            return self._listed[1]
        headers = await self._headers()
        try:
            async with asyncio.timeout(self.timeout), self._session(headers) as client:
                listed = await _list_all(client)
        except Exception as exc:
            raise MCPServerError(f"MCP server '{self.name}' could not list its tools: {_describe(exc)}.") from None
        tools = self._offered(listed)
        self._listed = (time.monotonic(), tools)
        return tools

    async def call_tool(self, name: str, arguments: dict[str, Any]) -> str:
        """Call `name` in a session of its own; returns the text the model reads.

        Raises MCPServerError when the server fails, MCPToolError when the tool answers with an error.
        """
        headers = await self._headers()
        try:
            async with asyncio.timeout(self.call_timeout), self._session(headers) as client:
                result = await client.call_tool(name, arguments)
        except Exception as exc:
            raise MCPServerError(f"MCP server '{self.name}' failed to run '{name}': {_describe(exc)}.") from None
        text = _result_text(result)
        if result.is_error:
            raise MCPToolError(text or f"'{name}' failed without saying why.")
        return text

    @asynccontextmanager
    async def _session(self, headers: dict[str, str]) -> AsyncIterator[Client]:
        import httpx2
        from mcp import Client
        from mcp.client.streamable_http import streamable_http_client

        async with (
            httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(self.timeout, read=None)) as http,
            Client(streamable_http_client(self.url, http_client=http)) as client,
        ):
            yield client

    async def _headers(self) -> dict[str, str]:
        """Read before a session opens: a missing setting is a ConfigError that says so, not a server failure."""
        if self.headers is None:
            return {}
        if callable(self.headers):
            made = self.headers()
            if inspect.isawaitable(made):
                made = await made
            return dict(made)
        return {key: value.read() if isinstance(value, Setting) else value for key, value in self.headers.items()}

    def _offered(self, listed: list[ListedTool]) -> list[MCPTool]:
        tools = []
        for item in listed:
            if self.allowed_tools is not None and item.name not in self.allowed_tools:
                continue
            if not TOOL_NAME.fullmatch(item.name):
                # Model APIs refuse such names (and the whole request with them).
                logger.warning(
                    "MCP server '%s': tool '%s' is left out: a tool name is 1-64 of A-Z, a-z, 0-9, '_' and '-'",
                    self.name,
                    item.name[:100],
                )
                continue
            needs_approval = self.approval == "always" or (
                not isinstance(self.approval, str) and item.name in self.approval
            )
            tools.append(
                MCPTool(
                    item.name,
                    item.description or item.title or item.name,
                    item.input_schema,
                    self,
                    "always" if needs_approval else "never",
                    self.approval_expires_after,
                )
            )
        if self.allowed_tools is not None and (missing := self.allowed_tools - {item.name for item in listed}):
            logger.warning("MCP server '%s' lists no tool named %s", self.name, ", ".join(sorted(missing)))
        return tools


async def _list_all(client: Client) -> list[ListedTool]:
    tools: list[ListedTool] = []
    cursor: str | None = None
    for _ in range(MAX_LIST_PAGES):
        page = await client.list_tools(cursor=cursor)
        tools += page.tools
        cursor = page.next_cursor
        if cursor is None:
            break
    return tools


def _result_text(result: CallToolResult) -> str:
    """What the model reads: text as it is; other content as JSON, without inline binary data."""
    parts = []
    for block in result.content:
        if block.type == "text":
            parts.append(block.text)
        elif block.type == "resource" and hasattr(block.resource, "text"):
            parts.append(block.resource.text)
        else:
            shown = block.model_dump(mode="json", by_alias=True, exclude_none=True, exclude={"data"})
            if isinstance(shown.get("resource"), dict):
                shown["resource"].pop("blob", None)
            parts.append(json.dumps(shown, ensure_ascii=False))
    if not parts and result.structured_content is not None:
        return json.dumps(result.structured_content, ensure_ascii=False)
    return "\n\n".join(parts)


def _describe(exc: BaseException) -> str:
    """Why a request failed, without the URL or the request (which carry secrets): the transport
    reports failures inside exception groups, so the first leaf is the cause."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    if isinstance(exc, TimeoutError):
        return "no answer in time"
    from mcp import MCPError

    if isinstance(exc, MCPError):
        return f"error {exc.error.code}: {exc.error.message}"
    return type(exc).__name__
