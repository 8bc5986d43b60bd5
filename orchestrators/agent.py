"""The agent run as a durable orchestration.

The orchestration carries only ids: the conversation lives in the event store, so it never grows
the durable history. Each model turn and each tool call is an activity with retries; the run
always ends through `finish_run`, which writes the one terminal event.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import azure.durable_functions as df
from azure.durable_functions.models.Task import TaskBase, TaskState

from agentstream import runtime, steps
from agentstream.config import get_settings
from agentstream.steps import StepContext

bp = df.Blueprint()

CANCEL_EVENT = "cancel"


@bp.orchestration_trigger(context_name="context")
def agent_run(context: df.DurableOrchestrationContext) -> Generator[Any, Any, dict[str, Any]]:
    run: dict[str, str] = context.get_input()
    settings = get_settings()
    retry = df.RetryOptions(settings.step_retry_interval_ms, settings.step_max_attempts)
    # Raised by the cancel endpoint; every wait below races against it.
    cancel = context.wait_for_external_event(CANCEL_EVENT)
    error: dict[str, str] | None = None
    cancelled = False
    phase = "model"
    try:
        for index in range(settings.max_model_steps):
            phase = "model"
            model = context.call_activity_with_retry("model_step", retry, {**run, "index": index})
            if (yield context.task_any([model, cancel])) is cancel or _outcome(model).get("cancelled"):
                cancelled = True
                break
            calls = _outcome(model)["toolCalls"]
            if not calls:
                break
            phase = "tool"
            tools = context.task_all(
                [
                    context.call_activity_with_retry("tool_step", retry, {**run, "index": index, "call": c})
                    for c in calls
                ]
            )
            if (yield context.task_any([tools, cancel])) is cancel:
                cancelled = True
                break
            _outcome(tools)
        else:
            error = {
                "code": "max_steps",
                "message": f"The agent did not finish within {settings.max_model_steps} model steps.",
            }
    except Exception as exc:
        error = {"code": f"{phase}_error", "message": _activity_failure(exc)}
    # The terminal event must get written: finishing retries for longer than a step.
    finish_retry = df.RetryOptions(settings.step_retry_interval_ms, max(10, settings.step_max_attempts))
    yield context.call_activity_with_retry("finish_run", finish_retry, {**run, "error": error, "cancelled": cancelled})
    return {"error": error, "cancelled": cancelled}


# Activity inputs are annotated plain `dict`: the worker's indexing rejects parameterized generics there.
@bp.activity_trigger(input_name="step")
async def model_step(step: dict) -> dict[str, Any]:
    ctx = StepContext(runtime.get_store(), step["thread_id"], step["run_id"])
    return await steps.run_model_step(ctx, runtime.get_model(), runtime.get_tools(), step["index"])


@bp.activity_trigger(input_name="step")
async def tool_step(step: dict) -> dict[str, Any]:
    ctx = StepContext(runtime.get_store(), step["thread_id"], step["run_id"])
    return await steps.run_tool_step(ctx, runtime.get_tools(), step["index"], step["call"])


@bp.activity_trigger(input_name="step")
async def finish_run(step: dict) -> None:
    ctx = StepContext(runtime.get_store(), step["thread_id"], step["run_id"])
    await steps.finish_run(ctx, step["error"], cancelled=step["cancelled"])


def _outcome(task: TaskBase) -> Any:
    """A finished task's value, or its error raised, as `yield task` would give it."""
    if task.state is TaskState.FAILED:
        raise task.result
    return task.result


def _activity_failure(exc: Exception) -> str:
    # Durable reports "Activity function 'x' failed: <Type>: <message> \n <details>"; keep the middle.
    text = str(exc).split(" \n ", 1)[0]
    return text.split("failed: ", 1)[-1].strip() or type(exc).__name__
