"""A small DFApp used only by the devhost durable-engine tests."""

# mypy: allow-untyped-decorators

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Generator
from datetime import timedelta
from typing import Any

import azure.durable_functions as df
import azure.functions as func

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)

# Module state shared with the tests: attempt counters and the gate of the blocking activity.
ATTEMPTS: Counter[str] = Counter()
BLOCKING_CALLS: list[str] = []
GATE = {"open": False}


def reset() -> None:
    ATTEMPTS.clear()
    BLOCKING_CALLS.clear()
    GATE["open"] = False


@app.activity_trigger(input_name="name")
def greet(name: str) -> str:
    return f"Hello {name}"


@app.activity_trigger(input_name="n")
async def double(n: int) -> int:
    return n * 2


@app.activity_trigger(input_name="payload")
def flaky(payload: dict[str, Any]) -> dict[str, Any]:
    ATTEMPTS[payload["key"]] += 1
    if ATTEMPTS[payload["key"]] <= payload["fail_times"]:
        raise ValueError(f"flaky attempt {ATTEMPTS[payload['key']]}")
    return {"ok": True, "attempts": ATTEMPTS[payload["key"]]}


@app.activity_trigger(input_name="value")
async def blocking(value: str) -> str:
    BLOCKING_CALLS.append(value)
    while not GATE["open"]:
        await asyncio.sleep(0.01)
    return f"unblocked {value}"


@app.activity_trigger(input_name="payload")
def A(payload: dict[str, Any]) -> Any:  # the activity of the protocol notes' worked example
    if payload["step"] == 1:
        return "A#1"
    ATTEMPTS["A"] += 1
    if ATTEMPTS["A"] == 1:
        raise ValueError("flaky")
    return {"ok": True}


@app.orchestration_trigger(context_name="context")
def chain(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    greeting = yield context.call_activity("greet", context.get_input())
    doubled = yield context.call_activity(double, 21)
    return [greeting, doubled]


@app.orchestration_trigger(context_name="context")
def fan_out(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    results = yield context.task_all([context.call_activity("double", i) for i in (1, 2, 3)])
    return results


@app.orchestration_trigger(context_name="context")
def with_retry(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    options = context.get_input()
    retry = df.RetryOptions(50, options["attempts"])
    result = yield context.call_activity_with_retry("flaky", retry, options)
    return result


@app.orchestration_trigger(context_name="context")
def sleeper(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    yield context.create_timer(context.current_utc_datetime + timedelta(milliseconds=100))
    return "woke up"


@app.orchestration_trigger(context_name="context")
def approval(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    context.set_custom_status({"phase": "waiting"})
    answer = yield context.wait_for_external_event("approval")
    context.set_custom_status({"phase": "done"})
    return answer


@app.orchestration_trigger(context_name="context")
def race(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    timer = context.create_timer(context.current_utc_datetime + timedelta(milliseconds=context.get_input()))
    event = context.wait_for_external_event("go")
    winner = yield context.task_any([timer, event])
    if winner == event:
        timer.cancel()
        return {"event": event.result}
    return "timeout"


@app.orchestration_trigger(context_name="context")
def counter(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    n = context.get_input() or 0
    if n >= 3:
        return n
    yield context.call_activity("double", n)
    context.continue_as_new(n + 1)


@app.orchestration_trigger(context_name="context")
def failing(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    context.set_custom_status("working")
    yield context.call_activity("greet", "x")
    raise ValueError("bad thing")


@app.orchestration_trigger(context_name="context")
def waits_on_blocking(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    result = yield context.call_activity("blocking", context.get_input())
    return result


@app.orchestration_trigger(context_name="context")
def calls_child(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    result = yield context.call_sub_orchestrator("chain", "child")
    return result


@app.orchestration_trigger(context_name="context")
def calls_missing(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    result = yield context.call_activity("no_such_activity", 1)
    return result


@app.orchestration_trigger(context_name="context")
def agent_orch(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    x = yield context.call_activity("A", {"step": 1})
    ev = yield context.wait_for_external_event("tool_result")
    r = yield context.call_activity_with_retry("A", df.RetryOptions(50, 3), {"step": 2})
    context.set_custom_status({"phase": "done"})
    return {"x": x, "ev": ev, "r": r}
