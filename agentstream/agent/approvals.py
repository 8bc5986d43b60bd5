"""Tool calls that wait for a person: AG-UI interrupts, and the `resume` that answers them.

When the model calls a tool that needs approval, the run ends (nothing runs or is billed while a
person decides) with `RUN_FINISHED.outcome = {"type": "interrupt", "interrupts": [...]}`, one
interrupt per call. The thread then refuses new input (`409 interrupt_pending`) until a run
carries `resume`, answering every open interrupt:

    {"interruptId": "...", "status": "resolved", "payload": {"approved": true, "arguments": {...}}}

Approved calls run (with the edited arguments, validated, when given); declined or cancelled
ones give the model a tool result saying so. The continuing run's id is derived from the
interrupted run's, so the same resume sent twice continues the thread once.

An interrupt's id is `<run id>.<tool call id>`: run ids have no '.', so the interrupted run is
known from any of its interrupts.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from ag_ui.core import Interrupt
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..exceptions import InterruptExpired, InterruptNotFound, InvalidRequest, first_problem
from ..log.stores.base import EventStore, RunInfo, RunStatus, ThreadInfo
from .tools import ToolRegistry

REASON = "tool_call"
DECLINED = "Declined: the user did not approve this call, so it did not run."


class Approval(BaseModel):
    """The payload of a resolved interrupt."""

    model_config = ConfigDict(extra="forbid")

    approved: bool
    arguments: dict[str, Any] | None = None


class ResumeEntry(BaseModel):
    """One answer of a `resume` list (AG-UI's ResumeEntry; camelCase or snake_case)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    interrupt_id: str = Field(alias="interruptId", min_length=1, max_length=300)
    status: str
    payload: Any = None
    metadata: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class OpenInterrupt:
    interrupt: dict[str, Any]
    """The AG-UI interrupt, camelCase, as the interrupted run's RUN_FINISHED carries it."""
    call: dict[str, Any]
    """The tool call it holds: {"id", "type", "function": {"name", "arguments"}}."""


@dataclass(frozen=True, slots=True)
class Decision:
    call: dict[str, Any]
    approved: bool

    def to_input(self) -> dict[str, Any]:
        return {"call": self.call, "approved": self.approved}


def interrupt_id(run_id: str, tool_call_id: str) -> str:
    return f"{run_id}.{tool_call_id}"


def interrupted_run_of(interrupt: str) -> str:
    return interrupt.partition(".")[0]


def resume_run_id(interrupted_run_id: str) -> str:
    """The id of the run that continues an interrupted one: the same for every resume of it."""
    return hashlib.sha256(f"resume:{interrupted_run_id}".encode()).hexdigest()[:32]


def interrupts_for(
    run_id: str, calls: list[dict[str, Any]], tools: ToolRegistry, now: dt.datetime
) -> list[dict[str, Any]]:
    """The interrupts for tool calls that wait for approval, as RUN_FINISHED's outcome lists them.

    `tools`: the agent's loaded registry (its MCP servers' tools included)."""
    interrupts = []
    for call in calls:
        name, arguments = call["function"]["name"], call["function"]["arguments"]
        tool = tools.get(name)
        interrupt = Interrupt(
            id=interrupt_id(run_id, call["id"]),
            reason=REASON,
            tool_call_id=call["id"],
            message=f"Approve {name}({arguments})?",
            response_schema={
                "type": "object",
                "properties": {"approved": {"type": "boolean"}, "arguments": tool.spec()["parameters"]},
                "required": ["approved"],
                "additionalProperties": False,
            },
        )
        if tool.approval_expires_after is not None:
            expires = now + dt.timedelta(seconds=tool.approval_expires_after)
            interrupt.expires_at = expires.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        interrupts.append(interrupt.model_dump(by_alias=True, exclude_none=True))
    return interrupts


async def open_interrupts(store: EventStore, thread: ThreadInfo | None) -> list[OpenInterrupt]:
    """The interrupts the thread waits on: those of its last run, if that run ended interrupted."""
    if thread is None or not thread.runs:
        return []
    run = thread.runs[-1]
    if run.status is not RunStatus.INTERRUPTED or run.end_seq is None:
        return []
    return await _interrupts_of(store, thread.thread_id, run)


async def _interrupts_of(store: EventStore, thread_id: str, run: RunInfo) -> list[OpenInterrupt]:
    assert run.end_seq is not None
    [terminal] = await store.read(thread_id, after=run.end_seq - 1, limit=1)
    interrupts: list[dict[str, Any]] = json.loads(terminal.data)["outcome"]["interrupts"]
    calls = {
        call["id"]: call
        for message in await store.get_messages(thread_id)
        if message["role"] == "assistant"
        for call in message.get("toolCalls", [])
    }
    return [OpenInterrupt(interrupt, calls[interrupt["toolCallId"]]) for interrupt in interrupts]


def decide(
    thread_id: str, entries: list[ResumeEntry], open_: list[OpenInterrupt], tools: ToolRegistry, now: dt.datetime
) -> list[Decision]:
    """Check a resume against the open interrupts; what to do with each call.

    Raises InvalidRequest (an interrupt left unanswered, a bad payload or edited arguments that do
    not validate), InterruptNotFound, or InterruptExpired (approving past `expiresAt`).
    """
    by_id = {item.interrupt["id"]: item for item in open_}
    answers: dict[str, ResumeEntry] = {}
    for entry in entries:
        if entry.interrupt_id not in by_id:
            raise InterruptNotFound(thread_id, entry.interrupt_id)
        if entry.interrupt_id in answers:
            raise InvalidRequest(f"Interrupt '{entry.interrupt_id}' is answered twice.", code="invalid_resume")
        answers[entry.interrupt_id] = entry
    if unanswered := [interrupt for interrupt in by_id if interrupt not in answers]:
        raise InvalidRequest(
            f"The resume leaves interrupt(s) {', '.join(unanswered)} unanswered: answer every open interrupt.",
            code="interrupt_unanswered",
        )
    decisions = []
    for interrupt, item in by_id.items():
        approval = _approval(answers[interrupt])
        call = item.call
        if approval.approved:
            expires_at = item.interrupt.get("expiresAt")
            if expires_at is not None and dt.datetime.fromisoformat(expires_at) <= now:
                raise InterruptExpired(interrupt, expires_at)
            if approval.arguments is not None:
                call = _with_arguments(call, approval.arguments, tools)
        decisions.append(Decision(call, approval.approved))
    return decisions


def _approval(entry: ResumeEntry) -> Approval:
    if entry.status == "cancelled":
        return Approval(approved=False)
    if entry.status != "resolved":
        raise InvalidRequest(
            f"Interrupt '{entry.interrupt_id}': status must be 'resolved' or 'cancelled', not '{entry.status[:40]}'.",
            code="invalid_resume",
        )
    try:
        return Approval.model_validate(entry.payload)
    except ValidationError as exc:
        raise InvalidRequest(
            f"Interrupt '{entry.interrupt_id}': payload {first_problem(exc, 'payload')} "
            '(expected {"approved": true|false, "arguments"?: {...}}).',
            code="invalid_resume",
        ) from None


def _with_arguments(call: dict[str, Any], arguments: dict[str, Any], tools: ToolRegistry) -> dict[str, Any]:
    """The call with arguments a person edited, checked against the tool's schema first."""
    name = call["function"]["name"]
    encoded = json.dumps(arguments, ensure_ascii=False)
    try:
        tools.get(name).check_arguments(encoded)
    except ValidationError as exc:
        raise InvalidRequest(
            f"The edited arguments of {name} do not validate: {first_problem(exc, 'arguments')}.",
            code="invalid_arguments",
        ) from None
    except ValueError as exc:
        raise InvalidRequest(
            f"The edited arguments of {name} do not validate: {exc}.", code="invalid_arguments"
        ) from None
    return {**call, "function": {"name": name, "arguments": encoded}}
