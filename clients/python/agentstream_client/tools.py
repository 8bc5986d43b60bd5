"""Tools the client runs: declared on the run request, answered by a Python callback."""

from __future__ import annotations

import inspect
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

logger = logging.getLogger(__name__)

EMPTY_SCHEMA: dict[str, Any] = {"type": "object", "properties": {}}


@dataclass(frozen=True, kw_only=True)
class ClientTool:
    """A tool the model may call and this process answers.

    `handler` gets the call's arguments (a dict) and returns the result: a string, or any JSON
    value. An exception it raises becomes an error result the model can read. With
    `AsyncAgentStreamClient` the handler may be an `async def`; the sync client needs a plain one.

    Usage:

        confirm = ClientTool(
            name="confirm_booking",
            description="Ask the user to confirm a booking.",
            parameters={"type": "object", "properties": {"note": {"type": "string"}}, "required": ["note"]},
            handler=lambda arguments: "yes" if input(arguments["note"] + " [y/n] ") == "y" else "no",
        )
        run = client.run("Book a table and confirm_booking.", tools=[confirm])
    """

    name: str
    description: str
    handler: Callable[[dict[str, Any]], Any] = field(repr=False)
    parameters: dict[str, Any] = field(default_factory=lambda: dict(EMPTY_SCHEMA))

    def declaration(self) -> dict[str, Any]:
        """The AG-UI tool declaration sent with the run request."""
        return {"name": self.name, "description": self.description, "parameters": self.parameters}

    def answer(self, tool_call_id: str, arguments: str) -> dict[str, Any]:
        """Run the handler on a call's JSON arguments; the result as the tool-results endpoint takes it."""
        try:
            content = self.handler(_parse_arguments(arguments))
            if inspect.isawaitable(content):
                _discard(content)
                raise TypeError(f"the handler of {self.name} is async: use it with AsyncAgentStreamClient")
        except Exception as exc:
            return self._failed(tool_call_id, exc)
        return {"toolCallId": tool_call_id, "content": content}

    async def aanswer(self, tool_call_id: str, arguments: str) -> dict[str, Any]:
        """As `answer`, awaiting the handler's result when it is awaitable (an `async def` handler)."""
        try:
            content = self.handler(_parse_arguments(arguments))
            if inspect.isawaitable(content):
                content = await content
        except Exception as exc:
            return self._failed(tool_call_id, exc)
        return {"toolCallId": tool_call_id, "content": content}

    def _failed(self, tool_call_id: str, exc: Exception) -> dict[str, Any]:
        logger.warning("Client tool %s failed on call %s", self.name, tool_call_id, exc_info=exc)
        message = f"{type(exc).__name__}: {exc}"
        return {"toolCallId": tool_call_id, "content": f"Error: {message}", "error": message}


def _parse_arguments(arguments: str) -> dict[str, Any]:
    parsed = json.loads(arguments or "{}")
    if not isinstance(parsed, dict):
        raise ValueError(f"arguments must be a JSON object, got {type(parsed).__name__}")
    return parsed


def _discard(awaitable: Awaitable[Any]) -> None:
    # A coroutine that is never awaited warns when collected; the call is answered with an error instead.
    if inspect.iscoroutine(awaitable):
        awaitable.close()
