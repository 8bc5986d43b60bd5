"""What the orchestration and its steps pass each other: activity inputs and step results.

They travel as JSON through the durable history, so they are plain dicts; these types say which
keys each carries. Keys stay as they were first written: in-flight instances replay their history.
"""

from __future__ import annotations

from typing import Any, Literal, NotRequired, TypedDict


class FunctionCall(TypedDict):
    name: str
    arguments: str
    """The arguments as the model wrote them: a JSON object, not parsed yet."""


class ToolCall(TypedDict):
    id: str
    type: Literal["function"]
    function: FunctionCall


class RunError(TypedDict):
    code: str
    message: str


class ToolMessage(TypedDict):
    """A tool call's result, as the thread's conversation keeps it."""

    id: str
    role: Literal["tool"]
    toolCallId: str
    content: str
    error: NotRequired[str]


class ModelStepResult(TypedDict):
    """The outcome of one model step: the turn's tool calls (none when it is final)."""

    toolCalls: list[ToolCall]
    output: NotRequired[Any]
    """The final answer validated against the agent's output type, as JSON."""
    error: NotRequired[RunError]
    cancelled: NotRequired[bool]
    approvals: NotRequired[list[str]]
    """The ids of the calls that wait for a person's approval."""


class DecidedCall(TypedDict):
    """A person's decision on a call that waited for approval, carried into the resumed run."""

    call: ToolCall
    approved: bool


class RunInput(TypedDict):
    """The orchestration's input."""

    thread_id: str
    run_id: str
    agent: NotRequired[str]
    """Absent in runs started before agents had names: they run the first agent."""
    tools: NotRequired[list[dict[str, Any]]]
    """The client-side tools' specs."""
    client_tools: NotRequired[Literal["wait", "finish"]]
    approvals: NotRequired[list[DecidedCall]]
    queued: NotRequired[bool]
    """A queued run: its first activity writes its opening events."""


class ModelStepInput(TypedDict):
    thread_id: str
    run_id: str
    agent: NotRequired[str]
    index: int
    tools: list[dict[str, Any]]


class ToolStepInput(TypedDict):
    thread_id: str
    run_id: str
    agent: NotRequired[str]
    index: int
    call: ToolCall
    declined: NotRequired[bool]


class FinishInput(TypedDict):
    thread_id: str
    run_id: str
    agent: NotRequired[str]
    error: RunError | None
    cancelled: bool
    pending: list[str]
    interrupts: NotRequired[list[ToolCall]]
    output: NotRequired[Any]


class RunOutcome(TypedDict):
    """What the orchestration returns: how the run ended."""

    error: RunError | None
    cancelled: bool
    pending: list[str]
    interrupts: NotRequired[list[str]]


#: The outcome of a step whose run is over (cancelled, or ended by another writer).
CANCELLED: ModelStepResult = {"toolCalls": [], "cancelled": True}
