"""Starting runs and answering their client-side tool calls, for any HTTP front door.

The JSON API (`POST /api/agents/{name}/run`) and the AG-UI endpoint both parse their request into
a `RunRequest` and call `start_run` for an agent; they differ in what happens when the model calls a tool the
client declared (`client_tools`):

- `"wait"`: the run emits the call and waits, durably, for `submit_tool_results` (the
  `.../tool-results` endpoint), racing cancel and `CLIENT_TOOL_TIMEOUT_SECONDS`;
- `"finish"`: the run ends with `RUN_FINISHED` whose outcome names the pending calls
  (`pendingToolCallIds`); a later run on the thread whose messages include a `tool` message
  answering them continues the conversation (the AG-UI way).

The durable orchestration is started, and its state read, through callbacks, so this module knows
nothing of Azure Functions. Starting is safe to repeat: the instance id is the run's, and a start
that reports an error while its instance exists counts as done. A thread whose active run lost its
orchestration is reconciled (`reconcile.py`) before a new run on it is refused.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

from ag_ui.core import (
    RunStartedEvent,
    TextMessageContentEvent,
    TextMessageEndEvent,
    TextMessageStartEvent,
    ToolCallArgsEvent,
    ToolCallEndEvent,
    ToolCallStartEvent,
)

from .. import runtime, telemetry
from ..exceptions import (
    AgentMismatch,
    InterruptNotFound,
    InterruptPending,
    InvalidRequest,
    RunAlreadyActive,
    RunNotFound,
    RunNotWaiting,
    RunOver,
    ServiceUnavailable,
    ThreadNotFound,
    ToolCallAnswered,
    ToolCallNotFound,
)
from ..log.events import NewEvent
from ..log.stores.base import EventStore, RunInfo, RunStatus, ThreadInfo
from . import approvals, state
from .agents import Agent
from .reconcile import OrchestrationState, OrchestrationStatus, reconcile_run
from .requests import RunRequest, ToolResult
from .steps import (
    StepContext,
    finish_run,
    model_step_id,
    model_step_index,
    tool_message,
    tool_result_event,
    tool_step_id,
)

logger = logging.getLogger(__name__)

ClientToolMode = Literal["wait", "finish"]
OrchestrationStarter = Callable[[dict[str, Any]], Awaitable[None]]
"""Starts the `agent_run` orchestration with this input; its instance id is `thread_id:run_id`."""
ToolResultsSignal = Callable[[str, str, list[str]], Awaitable[None]]
"""Tells the orchestration of (thread id, run id) that these tool calls now have results."""


@dataclass(frozen=True, slots=True)
class StartedRun:
    thread_id: str
    run_id: str
    first_seq: int
    """The seq of the run's RUN_STARTED event: stream from `first_seq - 1` to see the whole run."""


def new_id() -> str:
    # 128 random bits: ids are unguessable, though never credentials on their own.
    return secrets.token_hex(16)


async def start_run(
    request: RunRequest,
    agent: Agent,
    start_orchestration: OrchestrationStarter,
    *,
    orchestration_status: OrchestrationStatus,
    client_tools: ClientToolMode = "wait",
    create_thread: bool = False,
    run_id: str | None = None,
) -> StartedRun:
    """Record a new run (RUN_STARTED and the request's messages) and start its orchestration.

    Without `thread_id` a new thread is made, owned by `agent`; with one, the thread must exist
    unless `create_thread` is true, and belong to `agent`. The run gets `run_id` (a valid id, new
    on the thread) or a new one. Raises the APIError to answer with when the request cannot start
    a run (nothing is written then).
    """
    store = runtime.get_store()
    # Listing MCP servers' tools (cached) only when there are client tools to check against them.
    server_tools = await agent.registry.load() if request.tools else agent.registry
    if clashes := [tool.name for tool in request.tools if tool.name in server_tools]:
        raise InvalidRequest(
            f"Client tool name(s) {', '.join(clashes)} are taken by server tools; rename them.", code="invalid_tools"
        )
    thread_id = request.thread_id or new_id()
    # One read of the thread serves the owner check, its open interrupts and its state.
    thread = await store.get_thread(thread_id) if request.thread_id is not None else None
    if thread is not None and thread.agent is not None and thread.agent != agent.name:
        raise AgentMismatch(thread_id, thread.agent, agent.name)
    waiting = await approvals.open_interrupts(store, thread)
    decisions: list[approvals.Decision] = []
    if request.resume is not None:
        if not waiting:
            return await _resumed_already(store, thread_id, request)
        tools = await agent.registry.load()
        decisions = approvals.decide(thread_id, request.resume, waiting, tools, dt.datetime.now(dt.UTC))
        run_id = approvals.resume_run_id(approvals.interrupted_run_of(waiting[0].interrupt["id"]))
    elif waiting:
        raise InterruptPending(thread_id, [item.interrupt["id"] for item in waiting])
    run_id = run_id or new_id()
    messages = request.input_messages(run_id)
    if any(m["role"] == "tool" for m in messages):
        earlier = await store.get_messages(thread_id) if request.thread_id else []
        _check_tool_answers(earlier, messages)
    events = [NewEvent.of(RunStartedEvent(thread_id=thread_id, run_id=run_id))]
    if (opening := await _opening_state(store, request, agent, thread)) is not None:
        events.append(state.snapshot_event(opening))
    for message in messages:
        events += _message_events(message)
    create = create_thread or request.thread_id is None
    try:
        first = await store.start_run(thread_id, run_id, events, messages, create=create, agent=agent.name)
    except RunAlreadyActive as exc:
        if decisions and exc.active_run_id == run_id:
            # The same resume, sent again while its run is going: the same answer.
            return await _resumed_already(store, thread_id, request)
        # Unless the active run lost its orchestration: then it ends now and this one takes the thread.
        if not await reconcile_run(store, thread_id, exc.active_run_id, orchestration_status):
            raise
        first = await store.start_run(thread_id, run_id, events, messages, create=create, agent=agent.name)
    run = {
        "thread_id": thread_id,
        "run_id": run_id,
        "agent": agent.name,
        "tools": [tool.spec() for tool in request.tools],
        "client_tools": client_tools,
    }
    if decisions:
        run["approvals"] = [decision.to_input() for decision in decisions]
    log = telemetry.run_logger(logger, thread_id, run_id)
    try:
        with telemetry.span("agentstream.start_orchestration", thread_id=thread_id, run_id=run_id):
            await start_orchestration(run)
    except Exception:
        if await _orchestration_exists(orchestration_status, thread_id, run_id):
            # The start landed and only its answer failed, or this start was a repeat: the run is on.
            log.warning("Starting run %s reported an error, but its orchestration exists", run_id, exc_info=True)
            return StartedRun(thread_id, run_id, first[0].seq)
        log.exception("Could not start the orchestration of run %s on thread %s", run_id, thread_id)
        await finish_run(
            StepContext(store, thread_id, run_id),
            error={"code": "start_failed", "message": "The run could not be started."},
        )
        raise ServiceUnavailable(
            "The run could not be started. Retry shortly.", code="start_failed", headers={"Retry-After": "5"}
        ) from None
    log.info("Run %s started on thread %s", run_id, thread_id)
    return StartedRun(thread_id, run_id, first[0].seq)


async def _opening_state(
    store: EventStore, request: RunRequest, agent: Agent, thread: ThreadInfo | None
) -> state.State | None:
    """The state a run starts with: the request's (it replaces the thread's), else the thread's,
    else the agent's initial state for a new thread. None: the thread has no state."""
    if request.state:
        return state.validated(request.state, agent.state_type, source="The request's 'state'")
    current = await state.thread_state(store, thread)
    return current if current is not None else agent.initial_state()


async def _orchestration_exists(orchestration_status: OrchestrationStatus, thread_id: str, run_id: str) -> bool:
    try:
        return await orchestration_status(thread_id, run_id) is not OrchestrationState.MISSING
    except Exception:
        logger.warning("Could not read the orchestration state of run %s", run_id, exc_info=True)
        return False


async def _resumed_already(store: EventStore, thread_id: str, request: RunRequest) -> StartedRun:
    """A resume whose interrupts were answered: the run that answer started, or 404."""
    assert request.resume is not None
    interrupt = request.resume[0].interrupt_id
    run_id = approvals.resume_run_id(approvals.interrupted_run_of(interrupt))
    run = await store.get_run(thread_id, run_id)
    if run is None:
        raise InterruptNotFound(thread_id, interrupt)
    return StartedRun(thread_id, run_id, run.start_seq)


async def submit_tool_results(
    thread_id: str, run_id: str, results: list[ToolResult], signal: ToolResultsSignal
) -> list[str]:
    """Commit the results of client-side tool calls of a waiting run and wake the run.

    Each result is appended as a TOOL_CALL_RESULT event and a tool message. Returns the ids of the
    calls answered. Raises ThreadNotFound/RunNotFound/ToolCallNotFound (404), RunNotWaiting and
    ToolCallAnswered (409).
    """
    store = runtime.get_store()
    run = await store.get_run(thread_id, run_id)
    if run is None:
        raise await missing_run(store, thread_id, run_id)
    if run.status is not RunStatus.RUNNING or run.cancel_requested:
        described = "cancelling" if run.status is RunStatus.RUNNING else run.status.value
        raise RunNotWaiting(f"Run '{run_id}' is {described}: it takes no tool results.")
    messages = await store.get_messages(thread_id)
    server_tools = await (await owner_of(store, thread_id)).registry.load()
    calls: dict[str, int] = {}
    for message in messages:
        index = model_step_index(run_id, message["id"]) if message["role"] == "assistant" else None
        if index is not None:
            for call in message.get("toolCalls", []):
                if call["function"]["name"] not in server_tools:
                    calls[call["id"]] = index
    answered = {m["toolCallId"] for m in messages if m["role"] == "tool"}
    for result in results:
        if result.tool_call_id not in calls:
            raise ToolCallNotFound(run_id, result.tool_call_id)
        if result.tool_call_id in answered:
            raise ToolCallAnswered(result.tool_call_id)
    accepted: list[str] = []
    for result in results:
        call_id = result.tool_call_id
        message = tool_message(call_id, result.text, error=result.error)
        try:
            written = await store.commit_step(
                thread_id,
                run_id,
                tool_step_id(run_id, calls[call_id], call_id),
                result=message,
                events=[tool_result_event(message)],
                messages=[message],
            )
        except RunOver:
            raise RunNotWaiting(f"Run '{run_id}' ended before the result of '{call_id}' arrived.") from None
        if not written:
            # Another request answered this call between our check and our commit.
            raise ToolCallAnswered(call_id)
        accepted.append(call_id)
    try:
        await signal(thread_id, run_id, accepted)
    except Exception:
        # The results are committed; a run that never hears of them ends with `tool_timeout`.
        logger.warning("Could not signal tool results %s to run %s", accepted, run_id, exc_info=True)
    return accepted


def _check_tool_answers(earlier: list[dict[str, Any]], new: list[dict[str, Any]]) -> None:
    """Every tool message must answer an earlier tool call that has no answer yet."""
    pending: set[str] = set()
    answered: set[str] = set()
    for index, message in enumerate([*earlier, *new]):
        if message["role"] == "assistant":
            pending.update(call["id"] for call in message.get("toolCalls", []))
        elif message["role"] == "tool":
            call_id = message["toolCallId"]
            if index >= len(earlier):
                if call_id in answered:
                    raise ToolCallAnswered(call_id)
                if call_id not in pending:
                    raise ToolCallNotFound(None, call_id)
            pending.discard(call_id)
            answered.add(call_id)


def _message_events(message: dict[str, Any]) -> list[NewEvent]:
    if message["role"] == "tool":
        return [tool_result_event(message)]
    events: list[NewEvent] = []
    if message.get("content"):
        message_id = message["id"]
        events += [
            NewEvent.of(TextMessageStartEvent(message_id=message_id, role=message["role"])),
            NewEvent.of(TextMessageContentEvent(message_id=message_id, delta=message["content"])),
            NewEvent.of(TextMessageEndEvent(message_id=message_id)),
        ]
    for call in message.get("toolCalls", []):
        events.append(
            NewEvent.of(
                ToolCallStartEvent(
                    tool_call_id=call["id"], tool_call_name=call["function"]["name"], parent_message_id=message["id"]
                )
            )
        )
        if call["function"]["arguments"]:
            events.append(NewEvent.of(ToolCallArgsEvent(tool_call_id=call["id"], delta=call["function"]["arguments"])))
        events.append(NewEvent.of(ToolCallEndEvent(tool_call_id=call["id"])))
    return events


async def owner_of(store: EventStore, thread_id: str) -> Agent:
    """The agent a thread belongs to; threads from before agents had names belong to the first."""
    head = await store.head(thread_id)
    agents = runtime.get_agents()
    return agents.get(head.agent) if head is not None and head.agent else agents.default


async def run_results(
    store: EventStore, thread_id: str, runs: list[RunInfo], messages: list[dict[str, Any]]
) -> dict[str, Any]:
    """The structured results of succeeded runs, by run id: what the final model step of each
    committed as its "output", along with the answer it is the JSON of."""
    final_steps: dict[str, int] = {}
    succeeded = {run.run_id for run in runs if run.status is RunStatus.SUCCEEDED}
    for message in messages:
        run_id = message["id"].partition(".m")[0]
        if message["role"] == "assistant" and run_id in succeeded:
            index = model_step_index(run_id, message["id"])
            if index is not None:
                final_steps[run_id] = index
    results: dict[str, Any] = {}
    for run_id, index in final_steps.items():
        record = await store.get_step(thread_id, model_step_id(run_id, index))
        if record is not None and isinstance(record.result, dict) and "output" in record.result:
            results[run_id] = record.result["output"]
    return results


async def missing_run(store: EventStore, thread_id: str, run_id: str) -> ThreadNotFound | RunNotFound:
    """The 404 for a run the store does not have: its thread is unknown too, or only the run is."""
    if await store.head(thread_id) is None:
        return ThreadNotFound(thread_id)
    return RunNotFound(thread_id, run_id)
