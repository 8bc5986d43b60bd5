"""Agents: a name, instructions, tools and (optionally) a model of their own.

```python
support = Agent(name="support", instructions="You are Contoso's support agent.", tools=[lookup_order])
```

`instructions` is a string, or a function of the run's `RunContext` (sync or async) returning
one; it is sent to the model as the first, system message of every model call, and never stored
in the thread. Without `model`, the app settings (MODEL_PROVIDER and friends) choose the model.
With `output_type` (a pydantic model), the final answer is JSON of that type, validated, and the
run's `result` (see `agentstream.agent.output`).
"""

from __future__ import annotations

import datetime as dt
import inspect
import re
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ValidationError

from ..exceptions import AgentNotFound
from .llm.base import ModelClient
from .output import output_schema
from .tools import Tool, ToolRegistry, ToolSource

AGENT_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")


@dataclass(frozen=True, slots=True)
class RunContext:
    """What instructions may depend on."""

    thread_id: str
    run_id: str
    agent: str
    now: dt.datetime


Instructions = str | Callable[[RunContext], str | Awaitable[str]]


@dataclass(frozen=True, eq=False)
class Agent:
    name: str
    instructions: Instructions = ""
    tools: Sequence[Tool | ToolSource] = ()
    model: ModelClient | None = None
    description: str = ""
    #: "per_tool": each tool's own `approval` decides; "always": every server tool needs a person's
    #: approval, except those named in `approval_exempt`.
    approval: Literal["per_tool", "always"] = "per_tool"
    approval_exempt: Sequence[str] = ()
    #: A pydantic model for the thread's shared state: it validates what clients send (400
    #: invalid_state) and what tools set, and its defaults are a new thread's state.
    state_type: type[BaseModel] | None = None
    #: A pydantic model of the final answer: requested as structured output and validated.
    output_type: type[BaseModel] | None = None
    registry: ToolRegistry = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if not AGENT_NAME.fullmatch(self.name):
            raise ValueError(
                f"Agent name '{self.name}' must be 1-64 characters from A-Z, a-z, 0-9, '_' and '-' "
                "(it is part of the agent's URLs)."
            )
        if not isinstance(self.instructions, str) and not callable(self.instructions):
            raise TypeError(f"Agent '{self.name}': instructions must be a string or a function of the RunContext.")
        if self.output_type is not None and not (
            isinstance(self.output_type, type) and issubclass(self.output_type, BaseModel)
        ):
            raise TypeError(
                f"Agent '{self.name}': output_type must be a pydantic model class (a BaseModel subclass), "
                f"not {self.output_type!r}."
            )
        object.__setattr__(self, "registry", ToolRegistry(self.tools))
        if self.approval not in ("per_tool", "always"):
            raise ValueError(f"Agent '{self.name}': approval must be 'per_tool' or 'always', not {self.approval!r}.")
        unknown = [name for name in self.approval_exempt if name not in self.registry]
        if unknown and not self.registry.has_sources:
            raise ValueError(f"Agent '{self.name}': approval_exempt names unknown tools: {', '.join(unknown)}.")

    async def system_prompt(self, context: RunContext) -> str:
        """The instructions for this run: the string, or what the function makes of the context."""
        if isinstance(self.instructions, str):
            return self.instructions
        text = self.instructions(context)
        if inspect.isawaitable(text):
            text = await text
        if not isinstance(text, str):
            raise TypeError(f"Agent '{self.name}': the instructions function returned {type(text).__name__}, not str.")
        return text

    def initial_state(self) -> dict[str, Any] | None:
        """A new thread's state: the state_type's defaults, if it has them all."""
        if self.state_type is None:
            return None
        try:
            return self.state_type().model_dump(mode="json")
        except ValidationError:
            return None

    def needs_approval(self, tool_name: str, tools: ToolRegistry) -> bool:
        """Whether a call of this server tool waits for a person first; `tools`: the loaded registry."""
        if tool_name not in tools:
            return False
        if self.approval == "always":
            return tool_name not in self.approval_exempt
        return tools.get(tool_name).approval == "always"

    def info(self, tools: ToolRegistry | None = None) -> dict[str, object]:
        """What `GET /api/agents` says of the agent; pass `await agent.registry.load()` as `tools` to
        list its MCP servers' tools too, and which server offers which (or why it offers none)."""
        tools = tools if tools is not None else self.registry
        info: dict[str, object] = {"name": self.name, "description": self.description, "tools": tools.specs()}
        if tools.listings:
            info["mcp_servers"] = [
                {"name": listing.name, "tools": list(listing.tools)}
                | ({"error": listing.error} if listing.error else {})
                for listing in tools.listings
            ]
        if self.output_type is not None:
            info["output_schema"] = output_schema(self.output_type).schema
        return info


class Agents:
    """The app's agents by name; the first is the one the unnamed routes (`/api/agent/...`) serve."""

    def __init__(self, agents: Iterable[Agent]) -> None:
        self._agents: dict[str, Agent] = {}
        for agent in agents:
            if not isinstance(agent, Agent):
                raise TypeError(f"{agent!r} is not an agentstream.Agent.")
            if agent.name in self._agents:
                raise ValueError(f"Two agents are named '{agent.name}'.")
            self._agents[agent.name] = agent
        if not self._agents:
            raise ValueError("An app needs at least one agent.")

    @property
    def default(self) -> Agent:
        return next(iter(self._agents.values()))

    def get(self, name: str) -> Agent:
        try:
            return self._agents[name]
        except KeyError:
            raise AgentNotFound(name) from None

    def __iter__(self) -> Iterator[Agent]:
        return iter(self._agents.values())
