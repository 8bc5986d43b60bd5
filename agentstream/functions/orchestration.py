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
from typing import Any

import azure.durable_functions as df
from azure.durable_functions.models.Task import TaskBase, TaskState

from agentstream import runtime
from agentstream.agent import approvals, steps
from agentstream.agent.agents import Agent, RunContext
from agentstream.agent.steps import StepContext
from agentstream.config import get_settings
from agentstream.exceptions import StoreUnavailable

bp = df.Blueprint()

CANCEL_EVENT = "cancel"
FINISH_PATIENCE_SECONDS = 86400.0


INSTANCE_ID_SEPARATOR = ":"


def run_instance_id(thread_id: str, run_id: str) -> str:
    """The durable instance id of a run: scoped by its thread, since clients may choose run ids.

    Ids are [A-Za-z0-9_-], so ':' cannot occur in either part; Durable allows it in instance ids
    and it needs no escaping in the management URLs.
    """
    return f"{thread_id}{INSTANCE_ID_SEPARATOR}{run_id}"


def tool_result_event(tool_call_id: str) -> str:
    """The external event that says a client-side tool call has its result (committed in the store).

    One event per call: the SDK keeps at most one early (not yet awaited) event per name. Hashed,
    because call ids come from the model and event names travel in URLs.
    """
    return "tool_result_" + hashlib.sha256(tool_call_id.encode()).hexdigest()[:24]


@bp.orchestration_trigger(context_name="context")
def agent_run(context: df.DurableOrchestrationContext) -> Generator[Any, Any, dict[str, Any]]:
    run: dict[str, Any] = context.get_input()
    ids = {"thread_id": run["thread_id"], "run_id": run["run_id"]}
    # Runs started before agents had names carry none (their activities run the first agent), and
    # their activity inputs stay as they were, so in-flight instances replay unchanged.
    agent = {"agent": run["agent"]} if "agent" in run else {}
    client_tools: list[dict[str, Any]] = run.get("tools", [])
    client_names = {tool["name"] for tool in client_tools}
    settings = get_settings()
    retry = df.RetryOptions(settings.step_retry_interval_ms, settings.step_max_attempts)
    # Raised by the cancel endpoint; every wait below races against it.
    cancel = context.wait_for_external_event(CANCEL_EVENT)
    error: dict[str, str] | None = None
    cancelled = False
    pending: list[str] = []
    interrupted: list[dict[str, Any]] = []
    output: Any = None
    phase = "model"
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
                            {**ids, **agent, "index": 0, "call": d["call"], "declined": not d["approved"]},
                        )
                        for d in run["approvals"]
                    ]
                )
                if (yield context.task_any([decided, cancel])) is cancel:
                    cancelled = True
                    break
                _outcome(decided)
            phase = "model"
            model = context.call_activity_with_retry(
                "model_step", retry, {**ids, **agent, "index": index, "tools": client_tools}
            )
            if (yield context.task_any([model, cancel])) is cancel or _outcome(model).get("cancelled"):
                cancelled = True
                break
            if failure := _outcome(model).get("error"):
                error = failure
                break
            calls = _outcome(model)["toolCalls"]
            if not calls:
                output = _outcome(model).get("output")
                break
            phase = "tool"
            # Calls waiting for approval run in a later, resumed run, once a person decides.
            awaiting = set(_outcome(model).get("approvals", []))
            server_calls = [c for c in calls if c["function"]["name"] not in client_names and c["id"] not in awaiting]
            if server_calls:
                tools = context.task_all(
                    [
                        context.call_activity_with_retry(
                            "tool_step", retry, {**ids, **agent, "index": index, "call": c}
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
        error = _run_error(phase, _activity_failure(exc))
    # The terminal event must get written, even after a long store outage: finishing retries
    # quickly, then again on durable timers, which cost nothing while they wait.
    finish_retry = df.RetryOptions(settings.step_retry_interval_ms, max(10, settings.step_max_attempts))
    finish = {**ids, "error": error, "cancelled": cancelled, "pending": pending}
    if interrupted and error is None and not cancelled:
        finish.update(agent, interrupts=interrupted)
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
    outcome = {"error": error, "cancelled": cancelled, "pending": pending}
    return {**outcome, "interrupts": [c["id"] for c in finish["interrupts"]]} if "interrupts" in finish else outcome


# Activity inputs are annotated plain `dict`: the worker's indexing rejects parameterized generics there.
@bp.activity_trigger(input_name="step")
async def model_step(step: dict) -> dict[str, Any]:
    agent = _agent_of(step)
    ctx = StepContext(runtime.get_store(), step["thread_id"], step["run_id"])
    now = dt.datetime.now(dt.UTC)
    instructions = await agent.system_prompt(RunContext(ctx.thread_id, ctx.run_id, agent.name, now))
    result = await steps.run_model_step(
        ctx,
        runtime.model_of(agent),
        agent.registry,
        step["index"],
        client_tools=step.get("tools"),
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
async def tool_step(step: dict) -> dict[str, Any]:
    agent = _agent_of(step)
    ctx = StepContext(runtime.get_store(), step["thread_id"], step["run_id"])
    return await steps.run_tool_step(
        ctx,
        agent.registry,
        step["index"],
        step["call"],
        agent=agent.name,
        declined=step.get("declined", False),
        state_type=agent.state_type,
    )


@bp.activity_trigger(input_name="step")
async def finish_run(step: dict) -> None:
    ctx = StepContext(runtime.get_store(), step["thread_id"], step["run_id"])
    interrupts = None
    if calls := step.get("interrupts"):
        tools = await _agent_of(step).registry.load()
        interrupts = approvals.interrupts_for(ctx.run_id, calls, tools, dt.datetime.now(dt.UTC))
    await steps.finish_run(
        ctx,
        step["error"],
        cancelled=step["cancelled"],
        pending_tool_call_ids=step.get("pending"),
        interrupts=interrupts,
        output=step.get("output"),
    )


def _agent_of(step: dict[str, Any]) -> Agent:
    agents = runtime.get_agents()
    return agents.get(step["agent"]) if step.get("agent") else agents.default


def _outcome(task: TaskBase) -> Any:
    """A finished task's value, or its error raised, as `yield task` would give it."""
    if task.state is TaskState.FAILED:
        raise task.result
    return task.result


def _run_error(phase: str, failure: str) -> dict[str, str]:
    if failure.startswith(f"{StoreUnavailable.__name__}:"):
        return {"code": "store_unavailable", "message": "The event store became unavailable during the run."}
    return {"code": f"{phase}_error", "message": failure}


def _finish_backoff(interval: float) -> list[float]:
    """Waits between rounds of finishing attempts: doubling from 10 intervals to an hour, a day in all."""
    delays: list[float] = []
    delay = 10 * interval
    while sum(delays) < FINISH_PATIENCE_SECONDS:
        delays.append(delay)
        delay = min(delay * 2, 3600.0)
    return delays


def _activity_failure(exc: Exception) -> str:
    # Durable reports "Activity function 'x' failed: <Type>: <message> \n <details>"; keep the middle.
    text = str(exc).split(" \n ", 1)[0]
    return text.split("failed: ", 1)[-1].strip() or type(exc).__name__
