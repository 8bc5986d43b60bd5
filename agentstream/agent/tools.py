"""Server-side tools: typed Python functions an agent can call, each call run as a durable activity.

```python
@tool
def lookup_order(order_id: Annotated[str, "The order number, e.g. A-1001"]) -> str:
    \"\"\"Look up the status of an order.\"\"\"
```

The schema the model sees and the validation of what it sends come from the function's signature
(see `agentstream.agent.signatures`). A tool may be sync (run in a worker thread, so a blocking call does
not stall the streams) or async, and may take a `ToolContext`, which the model never sees. What it
returns is what the model reads: a string as it is, anything else as JSON.

The explicit form `Tool(name, description, ArgumentsModel, function)` takes a pydantic model and
calls `function(arguments)` with the validated model instance.

An agent's tools may also come from a `ToolSource`, such as an MCP server (`agentstream.MCPServer`),
which lists them at run time: `ToolRegistry.load()` gives the tools a step has.
"""

from __future__ import annotations

import abc
import asyncio
import copy
import inspect
import json
import logging
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol, overload

from pydantic import BaseModel

from .signatures import read_signature, tool_schema

logger = logging.getLogger(__name__)

if TYPE_CHECKING:
    from .state import StateUpdates

TOOL_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")

Approval = Literal["never", "always"]


@dataclass(frozen=True, slots=True)
class ToolContext:
    """What a tool may know about the call it serves; never part of the model's arguments."""

    thread_id: str
    run_id: str
    agent: str
    tool_call_id: str
    _state: StateUpdates | None = field(default=None, repr=False, compare=False)

    @property
    def state(self) -> dict[str, Any]:
        """The thread's shared state as this call sees it (a copy: change it with `update_state`)."""
        return copy.deepcopy(self._state.state) if self._state is not None else {}

    def update_state(self, state: dict[str, Any]) -> None:
        """Replace the shared state; each update reaches readers as a STATE_DELTA with the call's result.

        Raises if the thread has no state, or if the agent's `state_type` refuses the new one.
        """
        if self._state is None:
            raise RuntimeError("This tool call has no shared state to update.")
        self._state.update(state)


@dataclass(frozen=True, slots=True)
class Tool:
    name: str
    description: str
    arguments: type[BaseModel]
    function: Callable[..., Any]
    #: True when `function` takes the arguments as keywords (the `@tool` form), not as one model.
    keywords: bool = False
    #: The parameter that receives the ToolContext, if the function takes one.
    context_parameter: str | None = None
    #: "always": every call waits for a person's approval (an AG-UI interrupt) before it runs.
    approval: Approval = "never"
    #: Seconds an approval request stays answerable; None: until it is answered.
    approval_expires_after: float | None = None
    _schema: dict[str, Any] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not TOOL_NAME.fullmatch(self.name):
            raise ValueError(f"Tool name '{self.name}' must be 1-64 characters from A-Z, a-z, 0-9, '_' and '-'.")
        if not self.description:
            raise ValueError(f"Tool '{self.name}' needs a description (a docstring, or description=...).")
        if self.approval not in ("never", "always"):
            raise ValueError(f"Tool '{self.name}': approval must be 'never' or 'always', not {self.approval!r}.")
        if self.approval_expires_after is not None and self.approval_expires_after <= 0:
            raise ValueError(f"Tool '{self.name}': approval_expires_after must be a positive number of seconds.")
        object.__setattr__(self, "_schema", tool_schema(self.arguments))

    def spec(self) -> dict[str, Any]:
        """The AG-UI tool shape: name, description, JSON-schema parameters."""
        return {"name": self.name, "description": self.description, "parameters": self._schema}

    def check_arguments(self, arguments_json: str) -> None:
        self.arguments.model_validate_json(arguments_json or "{}")

    async def call(self, arguments_json: str, context: ToolContext) -> str:
        """Validate the model's arguments, run the function, and give back what the model reads."""
        arguments = self.arguments.model_validate_json(arguments_json or "{}")
        if self.keywords:
            # Attributes, not model_dump(): nested models reach the function as model instances.
            kwargs = {name: getattr(arguments, name) for name in type(arguments).model_fields}
            args: tuple[Any, ...] = ()
        else:
            kwargs, args = {}, (arguments,)
        if self.context_parameter is not None:
            kwargs[self.context_parameter] = context
        if inspect.iscoroutinefunction(self.function):
            result = await self.function(*args, **kwargs)
        else:
            result = await asyncio.to_thread(self.function, *args, **kwargs)
            if inspect.isawaitable(result):
                result = await result
        return _as_text(result)


@overload
def tool(function: Callable[..., Any], /) -> Tool: ...


@overload
def tool(
    *,
    name: str | None = None,
    description: str | None = None,
    approval: Approval = "never",
    approval_expires_after: float | None = None,
) -> Callable[[Callable[..., Any]], Tool]: ...


def tool(
    function: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
    approval: Approval = "never",
    approval_expires_after: float | None = None,
) -> Tool | Callable[[Callable[..., Any]], Tool]:
    """Make a typed function a tool: `@tool`, or `@tool(name=..., description=..., approval="always")`."""

    def make(function: Callable[..., Any]) -> Tool:
        tool_name = name or function.__name__
        signature = read_signature(function, name=tool_name, context_type=ToolContext)
        return Tool(
            tool_name,
            description or signature.description,
            signature.arguments,
            function,
            keywords=True,
            context_parameter=signature.context_parameter,
            approval=approval,
            approval_expires_after=approval_expires_after,
        )

    return make if function is None else make(function)


class ServerTool(Protocol):
    """What a step needs of a tool: a `Tool`, or one a `ToolSource` listed."""

    @property
    def name(self) -> str: ...

    @property
    def approval(self) -> Approval: ...

    @property
    def approval_expires_after(self) -> float | None: ...

    def spec(self) -> dict[str, Any]: ...

    def check_arguments(self, arguments_json: str) -> None:
        """Raise ValueError (pydantic's ValidationError is one) if the tool would refuse these arguments."""
        ...

    async def call(self, arguments_json: str, context: ToolContext) -> str: ...


class ToolSource(abc.ABC):
    """Tools listed at run time by something outside the app, such as an MCP server."""

    name: str

    @abc.abstractmethod
    async def list_tools(self) -> Sequence[ServerTool]:
        """The tools to offer now; raises an AgentStreamError when they cannot be listed."""


@dataclass(frozen=True, slots=True)
class SourceListing:
    """What one source gave a loaded registry: its tools' names, or why it gave none."""

    name: str
    tools: tuple[str, ...] = ()
    error: str | None = None


class UnknownTool(LookupError):
    pass


class ToolRegistry:
    """An agent's tools by name: its own, and (once loaded) those its sources list."""

    def __init__(self, tools: Iterable[Tool | ToolSource] = ()) -> None:
        self._tools: dict[str, ServerTool] = {}
        self._sources: list[ToolSource] = []
        #: Set by `load()`: what each source listed.
        self.listings: tuple[SourceListing, ...] = ()
        for item in tools:
            if isinstance(item, ToolSource):
                self._sources.append(item)
                continue
            if not isinstance(item, Tool):
                raise TypeError(
                    f"{item!r} is not a tool: decorate the function with @agentstream.tool "
                    "(or, for a remote server's tools, use agentstream.MCPServer)."
                )
            if item.name in self._tools:
                raise ValueError(f"Two tools are named '{item.name}'.")
            self._tools[item.name] = item

    async def load(self) -> ToolRegistry:
        """These tools with what the sources list now (each source caches its list). A source that
        cannot list leaves its tools out; a listed tool named like an earlier one is left out."""
        if not self._sources:
            return self
        loaded = ToolRegistry()
        loaded._tools = dict(self._tools)
        listings = []
        results = await asyncio.gather(*(source.list_tools() for source in self._sources), return_exceptions=True)
        for source, result in zip(self._sources, results, strict=True):
            if isinstance(result, BaseException):
                if not isinstance(result, Exception):
                    raise result
                logger.warning("Tools of '%s' left out: %s", source.name, result)
                listings.append(SourceListing(source.name, error=str(result)))
                continue
            names = []
            for item in result:
                if item.name in loaded._tools:
                    logger.warning("Tool '%s' of '%s' left out: another tool has that name", item.name, source.name)
                    continue
                loaded._tools[item.name] = item
                names.append(item.name)
            listings.append(SourceListing(source.name, tuple(names)))
        loaded.listings = tuple(listings)
        return loaded

    def get(self, name: str) -> ServerTool:
        try:
            return self._tools[name]
        except KeyError:
            known = ", ".join(self._tools) or "none"
            missing = "".join(f" {listing.error}" for listing in self.listings if listing.error)
            raise UnknownTool(f"No server tool named '{name}'. Known tools: {known}.{missing}") from None

    @property
    def has_sources(self) -> bool:
        """Whether tools come at run time too (an MCP server), so its names are known only once loaded."""
        return bool(self._sources)

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def __iter__(self) -> Iterator[ServerTool]:
        return iter(self._tools.values())

    def specs(self) -> list[dict[str, Any]]:
        return [item.spec() for item in self._tools.values()]


def _as_text(result: Any) -> str:
    if isinstance(result, str):
        return result
    if isinstance(result, BaseModel):
        return result.model_dump_json()
    return json.dumps(result, ensure_ascii=False, default=str)
