"""The agent's durable steps, each safe to run more than once (activities run at least once).

- A model step that already committed returns its stored result without calling the model.
- A model step cut off mid-stream (a crash, a failed write, a model error) is closed and marked
  discarded before it is redone; only committed output reaches the thread's messages.
- An agent's structured answer that fails validation is discarded the same way and asked for once
  more, with the validation error; a second failure ends the run with `invalid_output`.
- A tool step commits its result and the TOOL_CALL_RESULT event in one write. A tool that raises,
  or arguments the model got wrong, give the model an error result to act on, not a failed run.
- Finishing a run writes exactly one terminal event, after everything it reports is committed.
- A cancelled run refuses further output at the store, so a step still streaming stops at its
  next write, closes what it opened, and reports `cancelled` instead of failing.
"""

from __future__ import annotations

import contextlib
import logging
import time
from dataclasses import dataclass
from typing import Any

from ag_ui.core import (
    MessagesSnapshotEvent,
    RunErrorEvent,
    RunFinishedCancelledOutcome,
    RunFinishedEvent,
    RunFinishedInterruptOutcome,
    RunFinishedSuccessOutcome,
    ToolCallResultEvent,
)
from pydantic import BaseModel, ValidationError

from .. import telemetry
from ..exceptions import CancelRequested, RunOver, StepSuperseded
from ..log.events import NewEvent, OpenConstructs, now_ms, step_discarded, token_usage
from ..log.stores.base import EventStore, RunStatus, StepAttempt, StepRecord, StepStatus
from ..log.writer import EventWriter
from .approvals import DECLINED
from .llm.base import ModelClient, ModelError
from .output import CORRECTION_SUFFIX, correction_text, output_schema, validate_output, validation_problems
from .state import State, StateUpdates, run_state, snapshot_event
from .tools import ToolContext, ToolRegistry
from .turn import AssistantTurn

logger = logging.getLogger(__name__)

CANCELLED: dict[str, Any] = {"toolCalls": [], "cancelled": True}


@dataclass(frozen=True, slots=True)
class StepContext:
    store: EventStore
    thread_id: str
    run_id: str


def model_step_id(run_id: str, index: int) -> str:
    return f"{run_id}.m{index}"


def model_step_index(run_id: str, message_id: str) -> int | None:
    """The index of the model step of `run_id` that wrote this assistant message, if it did."""
    prefix = f"{run_id}.m"
    if not message_id.startswith(prefix):
        return None
    index, _, _attempt = message_id[len(prefix) :].partition(".")
    return int(index) if index.isascii() and index.isdigit() else None


def tool_step_id(run_id: str, index: int, call_id: str) -> str:
    """One id per tool call, whoever answers it: a server tool step or the client's result."""
    return f"{run_id}.t{index}.{call_id}"


async def run_model_step(
    ctx: StepContext,
    model: ModelClient,
    tools: ToolRegistry,
    index: int,
    client_tools: list[dict[str, Any]] | None = None,
    *,
    instructions: str = "",
    max_attempts: int,
    output_type: type[BaseModel] | None = None,
) -> dict[str, Any]:
    """Stream one assistant turn into the log; the model may call server tools and `client_tools`.

    `instructions` go first, as a system message the model sees and the thread never stores.

    Returns {"toolCalls": [...]} (empty when the turn is final), or CANCELLED. A model error that
    is final, or that hits the step's last attempt (`max_attempts`), returns {"toolCalls": [],
    "error": {"code", "message"}}, so the run ends with the model's own error code. With an
    `output_type`, a final turn also returns its validated answer as "output".
    """
    with telemetry.span("agentstream.model_step", thread_id=ctx.thread_id, run_id=ctx.run_id, step=str(index)):
        return await _run_model_step(
            ctx,
            model,
            tools,
            index,
            client_tools,
            instructions=instructions,
            max_attempts=max_attempts,
            output_type=output_type,
        )


async def _run_model_step(
    ctx: StepContext,
    model: ModelClient,
    tools: ToolRegistry,
    index: int,
    client_tools: list[dict[str, Any]] | None,
    *,
    instructions: str,
    max_attempts: int,
    output_type: type[BaseModel] | None,
) -> dict[str, Any]:
    step_id = model_step_id(ctx.run_id, index)
    record = await ctx.store.get_step(ctx.thread_id, step_id)
    if record is not None and record.status is StepStatus.COMMITTED:
        return record.result  # type: ignore[no-any-return]
    run = await ctx.store.get_run(ctx.thread_id, ctx.run_id)
    if run is None or run.cancel_requested or run.status is not RunStatus.RUNNING:
        return CANCELLED
    # MCP servers' tools, listed before the step opens: a slow listing leaves nothing half-written.
    tools = await tools.load()
    if record is not None and record.status is StepStatus.STARTED:
        await discard_attempt(ctx, record)
    attempt = record.attempt + 1 if record is not None else 1
    prompt = [{"id": f"{step_id}.instructions", "role": "system", "content": instructions}] if instructions else []
    request = _StepRequest(step_id, [*tools.specs(), *(client_tools or [])], prompt, output_type)
    outcome = await _model_attempt(ctx, model, request, attempt, max_attempts)
    if not isinstance(outcome, _InvalidOutput):
        return outcome
    # The model reads what was wrong with its answer, once; the thread keeps neither.
    request.prompt_after = [
        {"id": f"{step_id}.{attempt}.answer", "role": "assistant", "content": outcome.answer},
        {"id": f"{step_id}.{attempt}{CORRECTION_SUFFIX}", "role": "user", "content": correction_text(outcome.error)},
    ]
    outcome = await _model_attempt(ctx, model, request, attempt + 1, max_attempts)
    if not isinstance(outcome, _InvalidOutput):
        return outcome
    assert output_type is not None
    message = (
        f"The model's answer did not validate as {output_type.__name__}, twice: {validation_problems(outcome.error)}"
    )
    return {"toolCalls": [], "error": {"code": "invalid_output", "message": message}}


@dataclass
class _StepRequest:
    """What every attempt of one model step asks the model."""

    step_id: str
    specs: list[dict[str, Any]]
    prompt: list[dict[str, Any]]
    output_type: type[BaseModel] | None
    prompt_after: list[dict[str, Any]] | None = None


class _InvalidOutput(Exception):
    """The model's final answer did not validate against the agent's output type."""

    def __init__(self, answer: str, error: ValidationError) -> None:
        super().__init__(str(error))
        self.answer = answer
        self.error = error


async def _model_attempt(
    ctx: StepContext, model: ModelClient, step: _StepRequest, attempt: int, max_attempts: int
) -> dict[str, Any] | _InvalidOutput:
    step_id = step.step_id
    current = await ctx.store.begin_step(ctx.thread_id, ctx.run_id, step_id, attempt)
    writer = EventWriter(
        ctx.store, ctx.thread_id, ctx.run_id, key=f"{step_id}.{attempt}", attempt=StepAttempt(step_id, attempt)
    )
    try:
        messages = await ctx.store.get_messages(ctx.thread_id)
        taken = {call["id"] for m in messages for call in m.get("toolCalls", [])}
        turn = AssistantTurn(f"{step_id}.{attempt}", taken_call_ids=taken)
        pace = _Pace()
        conversation = [*step.prompt, *messages, *(step.prompt_after or [])]
        if step.output_type is None:
            stream = model.stream(conversation, step.specs)
        else:
            stream = model.stream(conversation, step.specs, output=output_schema(step.output_type))
        async with contextlib.aclosing(stream) as chunks:
            async for chunk in chunks:
                for event in turn.feed(chunk):
                    pace.output()
                    writer.emit(event)
        pace.finish(turn.usage.get("outputTokens", 0))
        result: dict[str, Any] = {"toolCalls": turn.tool_calls}
        if step.output_type is not None and not turn.tool_calls:
            try:
                result["output"] = validate_output(step.output_type, turn.text)
            except ValidationError as exc:
                raise _InvalidOutput(turn.text, exc) from exc
        unwritten = await writer.close()
        await ctx.store.commit_step(
            ctx.thread_id,
            ctx.run_id,
            step_id,
            result=result,
            events=unwritten + turn.finish(),
            messages=turn.messages(),
            usage=turn.usage,
            attempt=attempt,
        )
        return result
    except StepSuperseded:
        # Another execution of this activity took the step over; its outcome is the step's.
        await writer.abandon()
        record = await ctx.store.get_step(ctx.thread_id, step_id)
        if record is not None and record.status is StepStatus.COMMITTED:
            return record.result  # type: ignore[no-any-return]
        raise
    except RunOver:
        with contextlib.suppress(RunOver):  # the run may already be over: then it was closed for us
            await discard_attempt(ctx, current, unwritten=await writer.abandon())
        return CANCELLED
    except _InvalidOutput as invalid:
        # Discarded before the next attempt begins; if that fails, the activity's retry discards it.
        try:
            await discard_attempt(ctx, current, unwritten=await writer.abandon())
        except RunOver:
            return CANCELLED
        return invalid
    except BaseException as exc:
        # Close what this attempt opened now, so readers see it end before any retry starts.
        try:
            await discard_attempt(ctx, current, unwritten=await writer.abandon())
        except Exception:
            telemetry.run_logger(logger, ctx.thread_id, ctx.run_id).warning(
                "Could not discard step %s attempt %d; the retry will", step_id, attempt, exc_info=True
            )
        if isinstance(exc, ModelError) and (exc.final or attempt >= max_attempts):
            return {"toolCalls": [], "error": {"code": exc.code, "message": str(exc)}}
        raise


async def run_tool_step(
    ctx: StepContext,
    tools: ToolRegistry,
    index: int,
    call: dict[str, Any],
    *,
    agent: str,
    declined: bool = False,
    state_type: type[BaseModel] | None = None,
) -> dict[str, Any]:
    """Run one server tool call of `agent` and commit its result. Returns the tool message.

    A `declined` call (a person did not approve it) does not run: its result says so. The tool's
    updates of the shared state (checked against `state_type`) commit with its result, as
    STATE_DELTA events; a tool that fails changes no state.
    """
    with telemetry.span(
        "agentstream.tool_step", thread_id=ctx.thread_id, run_id=ctx.run_id, tool=str(call["function"]["name"])
    ):
        return await _run_tool_step(ctx, tools, index, call, agent, declined, state_type)


async def _run_tool_step(
    ctx: StepContext,
    tools: ToolRegistry,
    index: int,
    call: dict[str, Any],
    agent: str,
    declined: bool,
    state_type: type[BaseModel] | None,
) -> dict[str, Any]:
    step_id = tool_step_id(ctx.run_id, index, call["id"])
    record = await ctx.store.get_step(ctx.thread_id, step_id)
    if record is not None and record.status is StepStatus.COMMITTED:
        return record.result  # type: ignore[no-any-return]
    function = call["function"]
    updates = StateUpdates(await _state_of(ctx), state_type)
    try:
        if declined:
            raise _Declined
        context = ToolContext(ctx.thread_id, ctx.run_id, agent, call["id"], updates)
        server_tool = (await tools.load()).get(function["name"])
        message = tool_message(call["id"], await server_tool.call(function["arguments"], context))
    except _Declined:
        message = tool_message(call["id"], DECLINED)
    except Exception as exc:
        # The model can correct itself (other arguments, another tool) if it reads what went wrong.
        # The error's type only: its text may quote the arguments, which are conversation content.
        telemetry.run_logger(logger, ctx.thread_id, ctx.run_id).info(
            "Tool call %s (%s) failed: %s", call["id"], function["name"], type(exc).__name__
        )
        error = tool_error_text(exc)
        message = tool_message(call["id"], f"Error: {error}", error=error)
    # A tool that failed or did not run leaves the state as it was.
    changes = updates.events() if "error" not in message and not declined else []
    try:
        written = await ctx.store.commit_step(
            ctx.thread_id,
            ctx.run_id,
            step_id,
            result=message,
            events=[*changes, tool_result_event(message)],
            messages=[message],
        )
    except RunOver:
        return CANCELLED
    if not written:
        # Another execution committed first; its result is the one the log holds.
        record = await ctx.store.get_step(ctx.thread_id, step_id)
        if record is not None and record.result is not None:
            return record.result  # type: ignore[no-any-return]
    return message


async def _state_of(ctx: StepContext) -> State | None:
    run = await ctx.store.get_run(ctx.thread_id, ctx.run_id)
    return await run_state(ctx.store, ctx.thread_id, ctx.run_id, run.start_seq) if run is not None else None


class _Declined(Exception):
    """A person declined the call: it does not run."""


def tool_message(call_id: str, content: str, *, error: str | None = None) -> dict[str, Any]:
    message: dict[str, Any] = {"id": f"{call_id}.result", "role": "tool", "toolCallId": call_id, "content": content}
    if error is not None:
        message["error"] = error
    return message


def tool_result_event(message: dict[str, Any]) -> NewEvent:
    return NewEvent.of(
        ToolCallResultEvent(
            message_id=message["id"], tool_call_id=message["toolCallId"], content=message["content"], role="tool"
        )
    )


def tool_error_text(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'arguments'}: {e['msg']}" for e in exc.errors(include_url=False)
        )
        return f"invalid arguments: {problems}"
    return f"{type(exc).__name__}: {exc}"


async def discard_attempt(ctx: StepContext, record: StepRecord, unwritten: list[NewEvent] | None = None) -> None:
    """Close whatever an interrupted attempt left open and tell clients to drop its output.

    `unwritten` is what the attempt produced but had not written yet: it goes in first, so the log
    holds everything the attempt streamed.
    """
    bodies = []
    cursor = record.start_seq
    while batch := await ctx.store.read(ctx.thread_id, after=cursor, limit=1000):
        bodies += [envelope.body() for envelope in batch if envelope.run_id == ctx.run_id]
        cursor = batch[-1].seq
    bodies += [event.body() for event in unwritten or []]
    opened = OpenConstructs()
    for body in bodies:
        opened.feed(body)
    message_ids = [b["messageId"] for b in bodies if b["type"] in ("TEXT_MESSAGE_START", "REASONING_MESSAGE_START")]
    tool_call_ids = [b["toolCallId"] for b in bodies if b["type"] == "TOOL_CALL_START"]
    marker = step_discarded(record.step_id, record.attempt, message_ids, tool_call_ids)
    await ctx.store.discard_step(
        ctx.thread_id,
        ctx.run_id,
        record.step_id,
        record.attempt,
        [*(unwritten or []), *opened.closing_events(), marker],
    )


async def finish_run(
    ctx: StepContext,
    error: dict[str, str] | None = None,
    *,
    cancelled: bool = False,
    pending_tool_call_ids: list[str] | None = None,
    interrupts: list[dict[str, Any]] | None = None,
    output: Any = None,
) -> None:
    """Write the run's closing events: a MESSAGES_SNAPSHOT of the thread's conversation, then its one
    terminal event: RUN_FINISHED with usage (its outcome `cancelled` when it was, `interrupt` with
    the tool calls waiting for a person, or naming the client-side tool calls left for the client
    to answer) and the structured `output` as its `result`, or RUN_ERROR with a code.

    A run whose cancel was requested ends cancelled whatever it was finishing with: the store
    decides that in the finishing write itself, so it holds against a cancel landing at the end."""
    with telemetry.span("agentstream.finish_run", thread_id=ctx.thread_id, run_id=ctx.run_id):
        for record in await ctx.store.open_steps(ctx.thread_id, ctx.run_id):
            await discard_attempt(ctx, record)
        try:
            await _write_ending(
                ctx,
                error,
                cancelled=cancelled,
                pending_tool_call_ids=pending_tool_call_ids,
                interrupts=interrupts,
                output=output,
            )
        except CancelRequested:
            error, cancelled = None, True
            await _write_ending(ctx, None, cancelled=True, pending_tool_call_ids=None, interrupts=None, output=None)
    outcome = "failed: " + error["code"] if error is not None else ("cancelled" if cancelled else "succeeded")
    if interrupts and error is None and not cancelled:
        outcome = f"interrupted, waiting for {len(interrupts)} approval(s)"
    telemetry.run_logger(logger, ctx.thread_id, ctx.run_id).info("Run %s ended %s", ctx.run_id, outcome)


async def _write_ending(
    ctx: StepContext,
    error: dict[str, str] | None,
    *,
    cancelled: bool,
    pending_tool_call_ids: list[str] | None,
    interrupts: list[dict[str, Any]] | None,
    output: Any,
) -> None:
    closing_state = await _state_of(ctx)
    snapshot = NewEvent(
        "MESSAGES_SNAPSHOT",
        MessagesSnapshotEvent.model_validate(
            {"messages": await ctx.store.get_messages(ctx.thread_id), "timestamp": now_ms()}
        ).model_dump_json(by_alias=True, exclude_none=True),
    )
    snapshots = [snapshot] if closing_state is None else [snapshot, snapshot_event(closing_state)]
    if error is not None:
        event = NewEvent.of(RunErrorEvent(message=error["message"], code=error["code"]))
        await ctx.store.finish_run(ctx.thread_id, ctx.run_id, RunStatus.FAILED, [*snapshots, event], error=error)
        return
    run = await ctx.store.get_run(ctx.thread_id, ctx.run_id)
    outcome: RunFinishedCancelledOutcome | RunFinishedSuccessOutcome | RunFinishedInterruptOutcome | None = None
    status = RunStatus.SUCCEEDED
    if cancelled:
        outcome = RunFinishedCancelledOutcome(type="cancelled")
        status = RunStatus.CANCELLED
    elif interrupts:
        outcome = RunFinishedInterruptOutcome.model_validate({"type": "interrupt", "interrupts": interrupts})
        status = RunStatus.INTERRUPTED
    elif pending_tool_call_ids:
        outcome = RunFinishedSuccessOutcome(type="success", pending_tool_call_ids=pending_tool_call_ids)
    finished = RunFinishedEvent(
        thread_id=ctx.thread_id,
        run_id=ctx.run_id,
        outcome=outcome,
        result=None if cancelled else output,
        usage=token_usage(run.usage if run is not None else {}),
    )
    await ctx.store.finish_run(ctx.thread_id, ctx.run_id, status, [*snapshots, NewEvent.of(finished)])


class _Pace:
    """Time to first output and output tokens per second of one model call."""

    def __init__(self) -> None:
        self._started = time.monotonic()
        self._first: float | None = None

    def output(self) -> None:
        if self._first is None:
            self._first = time.monotonic()
            telemetry.record_time_to_first_token(self._first - self._started)

    def finish(self, output_tokens: int) -> None:
        if self._first is None or output_tokens <= 0:
            return
        elapsed = time.monotonic() - self._first
        if elapsed > 0:
            telemetry.record_tokens_per_second(output_tokens / elapsed)
