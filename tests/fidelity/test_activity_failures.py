"""An activity failure as the orchestrator receives it in Azure: devhost writes the host's and the extension's
text, the SDK raises it into the orchestrator, and the app reads back only the exception's type and message."""

from __future__ import annotations

import json
from collections.abc import Generator
from typing import Any

import azure.durable_functions as df
import pytest

from agentstream.exceptions import StoreUnavailable
from agentstream.functions.failures import ActivityFailure, parse_activity_failure
from devhost.durable import events as ev
from devhost.durable.episode import run_episode
from devhost.durable.failures import TaskFailure, WorkerException, activity_failure, host_exception_message


def raised(exc: Exception) -> WorkerException:
    try:
        raise exc
    except Exception as caught:
        return WorkerException.from_exception(caught)


def _catching(context: df.DurableOrchestrationContext) -> Generator[Any, Any, str]:
    try:
        yield context.call_activity("tool_step", None)
    except Exception as exc:
        return str(exc)
    return "completed"


def as_orchestrator_sees_it(failure: TaskFailure) -> str:
    """What the orchestrator catches when the activity's TaskFailed is replayed through the SDK."""
    now = ev.utcnow()
    started = ev.execution_started(now, instance_id="i", execution_id="e", name="o", input_text=None)
    history = [ev.orchestrator_started(now), started]
    history += [ev.task_scheduled(now, 0, name="tool_step", input_text="null"), ev.orchestrator_completed(now)]
    result = run_episode(
        name="o",
        instance_id="i",
        handle_fn=df.Orchestrator.create(_catching),
        history=history,
        new_event=ev.task_failed(now, 0, failure.reason, failure.details),
        now=now,
        activity_names={"tool_step"},
    )
    assert result.status == "Completed" and result.output is not None
    return str(json.loads(result.output))


def test_devhost_writes_the_host_message_with_the_traceback_and_the_extension_reason() -> None:
    worker = raised(StoreUnavailable("database is locked: /var/data/events.db"))
    failure = activity_failure("model_step", worker)
    assert worker.message == "StoreUnavailable: database is locked: /var/data/events.db"
    assert worker.stack_trace.startswith("Traceback (most recent call last):\n  File ")
    assert failure.reason == (
        "Activity function 'model_step' failed: Result: Failure\n"
        f"Exception: StoreUnavailable: database is locked: /var/data/events.db\nStack: {worker.stack_trace}"
    )
    details = json.loads(failure.details)
    assert details["Message"] == host_exception_message(worker)
    assert details["$type"].startswith("Microsoft.Azure.WebJobs.Script.Workers.Rpc.RpcException,")


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (
            StoreUnavailable("database is locked: /var/data/events.db"),
            ActivityFailure("StoreUnavailable", "database is locked: /var/data/events.db"),
        ),
        (KeyError("toolCalls"), ActivityFailure("KeyError", "'toolCalls'")),
        (ValueError("first line\nsecond line"), ActivityFailure("ValueError", "first line")),
    ],
)
def test_the_app_reads_the_type_and_first_line_and_nothing_of_the_stack(
    exc: Exception, expected: ActivityFailure
) -> None:
    failure = activity_failure("tool_step", raised(exc))
    text = as_orchestrator_sees_it(failure)
    assert "Traceback" in text and "Stack:" in text
    parsed = parse_activity_failure(text)
    assert parsed == expected
    assert "Traceback" not in str(parsed) and "Stack:" not in str(parsed) and ".py" not in str(parsed)


@pytest.mark.parametrize(
    "text",
    [
        # The layout reported from one host version: labels on their own lines, spaces around them.
        "Activity function 'model_step' failed: Result: Failure \nException: StoreUnavailable: gone \n Stack: "
        'Traceback (most recent call last):\n  File "/home/site/wwwroot/x.py", line 1 \n {"Message": "..."}',
        # A host without the RpcException wrapping (older devhost): the worker's text only.
        'Activity function \'model_step\' failed: StoreUnavailable: gone \n {"Message": "StoreUnavailable: gone"}',
        # The exception's qualified name.
        "Activity function 'model_step' failed: Result: Failure\nException: agentstream.exceptions.StoreUnavailable: "
        "gone\nStack: Traceback",
    ],
)
def test_other_layouts_of_the_same_failure_read_the_same(text: str) -> None:
    assert parse_activity_failure(text) == ActivityFailure("StoreUnavailable", "gone")


def test_text_that_names_no_exception_type_is_kept_as_its_first_line() -> None:
    assert parse_activity_failure("Activity function 'x' failed: something odd\nmore") == ActivityFailure(
        "", "something odd"
    )
