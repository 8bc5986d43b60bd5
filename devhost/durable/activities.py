"""Run one activity invocation the way the Functions worker and the Durable extension do.

The worker decodes the trigger payload with ``ActivityTriggerConverter`` and encodes the return value with it;
a failure becomes ``TaskFailed`` with the text the worker, the host and the extension wrap around it (failures.py).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from azure.functions import meta
from azure.functions.decorators.function_app import Function
from azure.functions.durable_functions import ActivityTriggerConverter

from .failures import WorkerException, activity_failure

logger = logging.getLogger("devhost.durable")


@dataclass(frozen=True)
class ActivityOutcome:
    """``result`` is the stored ``TaskCompleted.Result`` when ``reason`` is None; otherwise a failure."""

    result: str | None = None
    reason: str | None = None
    details: str | None = None


class ActivityFunction:
    """An activity; a durable client input binding gets the same JSON as an HTTP trigger's."""

    def __init__(self, function: Function, client_binding: Callable[[], str]) -> None:
        trigger = function.get_trigger()
        if trigger is None:
            raise ValueError(f"function {function.get_function_name()!r} has no trigger")
        self.name = str(function.get_function_name())
        self._parameter = str(trigger.name)
        self._clients = [str(b.name) for b in function.get_bindings() if b.type == "durableClient"]
        self._client_binding = client_binding
        self._user_function = function.get_user_function()

    async def invoke(self, input_text: str) -> ActivityOutcome:
        try:
            argument = ActivityTriggerConverter.decode(meta.Datum(type="json", value=input_text), trigger_metadata=None)
            kwargs = {self._parameter: argument, **{name: self._client_binding() for name in self._clients}}
            if inspect.iscoroutinefunction(self._user_function):
                returned = await self._user_function(**kwargs)
            else:
                # Sync activities may block (I/O, sleeps); keep them off the event loop like the worker's thread pool.
                returned = await asyncio.to_thread(self._user_function, **kwargs)
            if inspect.isawaitable(returned):
                returned = await returned
            encoded: Any = ActivityTriggerConverter.encode(returned, expected_type=None).value
        except Exception as exc:
            logger.exception("Activity function '%s' failed", self.name)
            failure = activity_failure(self.name, WorkerException.from_exception(exc))
            return ActivityOutcome(reason=failure.reason, details=failure.details)
        return ActivityOutcome(result=None if encoded is None else str(encoded))
