"""Agents: a name, instructions, tools and (optionally) a model of their own.

```python
support = Agent(name="support", instructions="You are Contoso's support agent.", tools=[lookup_order])
```

`instructions` is a string, or a function of the run's `RunContext` (sync or async) returning
one; it is sent to the model as the first, system message of every model call, and never stored
in the thread. Without `model`, the app settings (MODEL_PROVIDER and friends) choose the model.
With `output_type` (a pydantic model), the final answer is JSON of that type, validated, and the
run's `result` (see `agentstream.output`).
"""

from __future__ import annotations

import datetime as dt
import inspect
import re
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from pydantic import BaseModel

from .exceptions import AgentNotFound
from .llm.base import ModelClient
from .output import output_schema
from .tools import Tool, ToolRegistry

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
    tools: Sequence[Tool] = ()
    model: ModelClient | None = None
    description: str = ""
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

    def info(self) -> dict[str, object]:
        """What `GET /api/agents` says of the agent: with an output type, also its result's JSON schema."""
        info: dict[str, object] = {"name": self.name, "description": self.description, "tools": self.registry.specs()}
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
