"""The agent run as a durable orchestration.

The orchestration carries ids and the run's client-side tool declarations, never the conversation:
that lives in the event store, so it never grows the durable history. Each model turn and each
server tool call is an activity with retries. A call of a client-side tool either waits for its
result (an external event per call, raced with cancel and a durable timer) or, in the `finish`
mode, ends the run with the call pending. The run always ends through `finish_run`, which writes
the one terminal event.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Generator
from typing import Any, cast

import azure.durable_functions as df
from azure.durable_functions.models.Task import TaskBase, TaskState

from agentstream import runtime
from agentstream.agent import approvals, multitask, process, reconcile, steps
from agentstream.agent.agents import Agent, RunContext
from agentstream.agent.step_data import (
    FinishInput,
    ModelStepInput,
    ModelStepResult,
    RunError,
    RunInput,
    RunOutcome,
    ToolCall,
    ToolMessage,
    ToolStepInput,
)
from agentstream.agent.steps import StepContext
from agentstream.config import get_settings
from agentstream.exceptions import StoreUnavailable
from agentstream.functions.instances import CANCEL_EVENT, orchestration_starter, orchestration_status, run_instance_id

__all__ = ["CANCEL_EVENT", "bp", "run_instance_id", "tool_result_event"]

from .failures import ActivityFailure, parse_activity_failure

bp = df.Blueprint()

FINISH_PATIENCE_SECONDS = 86400.0


def tool_result_event(tool_call_id: str) -> str:
    """The external event that says a client-side tool call has its result (committed in the store).

    One event per call: the SDK keeps at most one early (not yet awaited) event per name. Hashed,
    because call ids come from the model and event names travel in URLs.
    """
    return "tool_result_" + hashlib.sha256(tool_call_id.encode()).hexdigest()[:24]


@bp.orchestration_trigger(context_name="context")
def agent_run(context: df.DurableOrchestrationContext) -> Generator[Any, Any, RunOutcome]:
    run = cast(RunInput, context.get_input())
    thread_id, run_id = run["thread_id"], run["run_id"]
    # Runs started before agents had names carry none (their activities run the first agent), and
    # their activity inputs stay as they were, so in-flight instances replay unchanged.
    agent = run.get("agent")
    client_tools: list[dict[str, Any]] = run.get("tools", [])
    client_names = {tool["name"] for tool in client_tools}
    settings = get_settings()
    retry = df.RetryOptions(settings.step_retry_interval_ms, settings.step_max_attempts)
    # Raised by the cancel endpoint; every wait below races against it.
    cancel = context.wait_for_external_event(CANCEL_EVENT)
    error: RunError | None = None
    cancelled = False
    pending: list[str] = []
    interrupted: list[ToolCall] = []
    output: Any = None
    phase = "model"
    if run.get("queued"):
        # A queued run's turn has come: it enters the log now, unless it was cancelled while it waited.
        opening: RunInput = {"thread_id": thread_id, "run_id": run_id}
        if agent is not None:
            opening["agent"] = agent
        opened = yield context.call_activity_with_retry("open_run", retry, opening)
        if not opened:
            return {"error": None, "cancelled": True, "pending": []}
    try:
        for index in range(settings.max_model_steps):
            if index == 0 and run.get("approvals"):
                # A resumed run: first the calls a person decided on (declined ones only get that answer).
                phase = "tool"
                decided = context.task_all(
                    [
                        context.call_activity_with_retry(
                            "tool_step",
                            retry,
                            _tool_input(thread_id, run_id, agent, 0, d["call"], declined=not d["approved"]),
                        )
                        for d in run["approvals"]
                    ]
                )
                if (yield context.task_any([decided, cancel])) is cancel:
                    cancelled = True
                    break
                _outcome(decided)
            phase = "model"
            model_input: ModelStepInput = {
                "thread_id": thread_id,
                "run_id": run_id,
                "index": index,
                "tools": client_tools,
            }
            if agent is not None:
                model_input["agent"] = agent
            model = context.call_activity_with_retry("model_step", retry, model_input)
            if (yield context.task_any([model, cancel])) is cancel:
                cancelled = True
                break
            step: ModelStepResult = _outcome(model)
            if step.get("cancelled"):
                cancelled = True
                break
            if failure := step.get("error"):
                error = failure
                break
            calls = step["toolCalls"]
            if not calls:
                output = step.get("output")
                break
            phase = "tool"
            # Calls waiting for approval run in a later, resumed run, once a person decides.
            awaiting = set(step.get("approvals", []))
            server_calls = [c for c in calls if c["function"]["name"] not in client_names and c["id"] not in awaiting]
            if server_calls:
                tools = context.task_all(
                    [
                        context.call_activity_with_retry(
                            "tool_step", retry, _tool_input(thread_id, run_id, agent, index, c)
                        )
                        for c in server_calls
                    ]
                )
                if (yield context.task_any([tools, cancel])) is cancel:
                    cancelled = True
                    break
                _outcome(tools)
            client_call_ids = [c["id"] for c in calls if c["function"]["name"] in client_names]
            if awaiting:
                # The run stops here; the interrupt outcome wins over client calls left pending.
                interrupted = [c for c in calls if c["id"] in awaiting]
                break
            if not client_call_ids:
                continue
            if run.get("client_tools") == "finish":
                # The client answers in a later run on the thread (the AG-UI way).
                pending = client_call_ids
                break
            answers = context.task_all([context.wait_for_external_event(tool_result_event(i)) for i in client_call_ids])
            deadline = context.current_utc_datetime + dt.timedelta(seconds=settings.client_tool_timeout_seconds)
            timeout = context.create_timer(deadline)
            winner = yield context.task_any([answers, cancel, timeout])
            if winner is not timeout:
                timeout.cancel()
            if winner is cancel:
                cancelled = True
                break
            if winner is timeout:
                error = {
                    "code": "tool_timeout",
                    "message": f"No result for client-side tool call(s) {', '.join(client_call_ids)} "
                    f"within {settings.client_tool_timeout_seconds:g} s.",
                }
                break
        else:
            error = {
                "code": "max_steps",
                "message": f"The agent did not finish within {settings.max_model_steps} model steps.",
            }
    except Exception as exc:
        error = _run_error(phase, parse_activity_failure(str(exc)))
    # The terminal event must get written, even after a long store outage: finishing retries
    # quickly, then again on durable timers, which cost nothing while they wait.
    finish_retry = df.RetryOptions(settings.step_retry_interval_ms, max(10, settings.step_max_attempts))
    finish: FinishInput = {
        "thread_id": thread_id,
        "run_id": run_id,
        "error": error,
        "cancelled": cancelled,
        "pending": pending,
    }
    if interrupted and error is None and not cancelled:
        finish["interrupts"] = interrupted
        if agent is not None:
            finish["agent"] = agent
    if output is not None:
        finish["output"] = output
    for delay in _finish_backoff(settings.step_retry_interval_ms / 1000):
        try:
            yield context.call_activity_with_retry("finish_run", finish_retry, finish)
            break
        except Exception:
            yield context.create_timer(context.current_utc_datetime + dt.timedelta(seconds=delay))
    else:
        yield context.call_activity_with_retry("finish_run", finish_retry, finish)
    # The run queued behind this one holds the thread now: its orchestration starts here (or, should
    # this fail for good, at the next reconciliation).
    try:
        yield context.call_activity_with_retry("start_next_run", retry, {"thread_id": thread_id, "run_id": run_id})
    except Exception:
        pass
    outcome: RunOutcome = {"error": error, "cancelled": cancelled, "pending": pending}
    if "interrupts" in finish:
        outcome["interrupts"] = [c["id"] for c in finish["interrupts"]]
    return outcome


def _tool_input(
    thread_id: str, run_id: str, agent: str | None, index: int, call: ToolCall, *, declined: bool | None = None
) -> ToolStepInput:
    step: ToolStepInput = {"thread_id": thread_id, "run_id": run_id, "index": index, "call": call}
    if agent is not None:
        step["agent"] = agent
    if declined is not None:
        step["declined"] = declined
    return step


# Activity inputs are annotated plain `dict`: the worker's indexing rejects parameterized generics there.
# Each is the input its orchestrator call above wrote, back from the durable history.
@bp.activity_trigger(input_name="step")
async def model_step(step: dict) -> ModelStepResult:
    data = cast(ModelStepInput, step)
    agent = _agent_of(data)
    ctx = StepContext(runtime.get_store(), data["thread_id"], data["run_id"])
    now = dt.datetime.now(dt.UTC)
    instructions = await agent.system_prompt(RunContext(ctx.thread_id, ctx.run_id, agent.name, now))
    result = await steps.run_model_step(
        ctx,
        process.model_of(agent),
        agent.registry,
        data["index"],
        client_tools=data.get("tools"),
        instructions=instructions,
        max_attempts=get_settings().step_max_attempts,
        output_type=agent.output_type,
    )
    # Decided here, not in the orchestrator: the answer is then in the durable history for replays.
    calls = result.get("toolCalls", [])
    tools = await agent.registry.load() if calls else agent.registry
    if waiting := [c["id"] for c in calls if agent.needs_approval(c["function"]["name"], tools)]:
        return {**result, "approvals": waiting}
    return result


@bp.activity_trigger(input_name="step")
async def tool_step(step: dict) -> ToolMessage | ModelStepResult:
    data = cast(ToolStepInput, step)
    agent = _agent_of(data)
    ctx = StepContext(runtime.get_store(), data["thread_id"], data["run_id"])
    return await steps.run_tool_step(
        ctx,
        agent.registry,
        data["index"],
        data["call"],
        agent=agent.name,
        declined=data.get("declined", False),
        state_type=agent.state_type,
    )


@bp.activity_trigger(input_name="step")
async def finish_run(step: dict) -> None:
    data = cast(FinishInput, step)
    ctx = StepContext(runtime.get_store(), data["thread_id"], data["run_id"])
    interrupts = None
    if calls := data.get("interrupts"):
        tools = await _agent_of(data).registry.load()
        interrupts = approvals.interrupts_for(ctx.run_id, calls, tools, dt.datetime.now(dt.UTC))
    await steps.finish_run(
        ctx,
        data["error"],
        cancelled=data["cancelled"],
        pending_tool_call_ids=data.get("pending"),
        interrupts=interrupts,
        output=data.get("output"),
    )


@bp.activity_trigger(input_name="step")
async def open_run(step: dict) -> bool:
    opening = cast(RunInput, step)
    return await multitask.open_queued_run(
        runtime.get_store(), opening["thread_id"], opening["run_id"], _agent_of(opening)
    )


@bp.activity_trigger(input_name="step")
@bp.durable_client_input(client_name="client")
async def start_next_run(step: dict, client: df.DurableOrchestrationClient) -> str | None:
    return await reconcile.start_held_run(
        runtime.get_store(), step["thread_id"], orchestration_status(client), orchestration_starter(client)
    )


def _agent_of(step: ModelStepInput | ToolStepInput | FinishInput | RunInput) -> Agent:
    agents = process.get_agents()
    name = step.get("agent")
    return agents.get(name) if name else agents.default


def _outcome(task: TaskBase) -> Any:
    """A finished task's value, or its error raised, as `yield task` would give it."""
    if task.state is TaskState.FAILED:
        raise task.result
    return task.result


def _run_error(phase: str, failure: ActivityFailure) -> RunError:
    if failure.exception_type == StoreUnavailable.__name__:
        return {"code": "store_unavailable", "message": "The event store became unavailable during the run."}
    return {"code": f"{phase}_error", "message": str(failure)}


def _finish_backoff(interval: float) -> list[float]:
    """Waits between rounds of finishing attempts: doubling from 10 intervals to an hour, a day in all."""
    delays: list[float] = []
    delay = 10 * interval
    while sum(delays) < FINISH_PATIENCE_SECONDS:
        delays.append(delay)
        delay = min(delay * 2, 3600.0)
    return delays
