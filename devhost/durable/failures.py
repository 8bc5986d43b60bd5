"""The text an orchestrator receives when an activity fails, as the Functions host and the Durable extension build it.

Three layers wrap the Python exception:

- the worker (``azure_functions_runtime.utils.tracing.serialize_exception``) sends the host a message
  ``"<Type>: <str(exc)>"`` and the whole ``traceback.format_exception`` text as the stack;
- the host raises an ``RpcException`` whose message is ``"Result: Failure\\nException: <message>\\nStack: <stack>"``;
- the extension (``TaskActivityShim``) fails the task with ``Reason = "Activity function '<name>' failed: "`` plus
  that message, and ``Details`` = the exception serialized by Newtonsoft (its ``$type``, ``Message``, ...).

The Python SDK then raises ``Exception(f"{Reason} \\n {Details}")`` inside the orchestrator, so whatever the
orchestrator makes of a failure, it gets the traceback with it.
"""

from __future__ import annotations

import json
import traceback
from dataclasses import dataclass

# The host's exception type, as Newtonsoft's TypeNameHandling names it in the serialized Details.
_RPC_EXCEPTION_TYPE = "Microsoft.Azure.WebJobs.Script.Workers.Rpc.RpcException, Microsoft.Azure.WebJobs.Script"
# System.Exception's HResult (COR_E_EXCEPTION), which RpcException keeps.
_HRESULT = -2146233088


@dataclass(frozen=True)
class WorkerException:
    """What the worker reports for an exception a function raised: ``RpcException.message`` and ``stack_trace``."""

    message: str
    stack_trace: str

    @classmethod
    def from_exception(cls, exc: BaseException) -> WorkerException:
        return cls(
            message=f"{type(exc).__name__}: {exc}",
            stack_trace="".join(traceback.format_exception(type(exc), exc, exc.__traceback__)),
        )


@dataclass(frozen=True)
class TaskFailure:
    """The ``Reason`` and ``Details`` of a ``TaskFailed`` history event."""

    reason: str
    details: str


def host_exception_message(exc: WorkerException) -> str:
    """The message of the host's ``RpcException`` for a failed invocation."""
    return f"Result: Failure\nException: {exc.message}\nStack: {exc.stack_trace}"


def activity_failure(function_name: str, exc: WorkerException) -> TaskFailure:
    message = host_exception_message(exc)
    details = {
        "$type": _RPC_EXCEPTION_TYPE,
        "ClassName": _RPC_EXCEPTION_TYPE.split(",", 1)[0],
        "Message": message,
        "Data": None,
        "InnerException": None,
        "HelpURL": None,
        "StackTraceString": None,
        "RemoteStackTraceString": None,
        "RemoteStackIndex": 0,
        "ExceptionMethod": None,
        "HResult": _HRESULT,
        "Source": None,
    }
    return TaskFailure(
        reason=f"Activity function '{function_name}' failed: {message}",
        details=json.dumps(details, separators=(",", ":")),
    )
