"""Timer triggers, fired on their NCRONTAB schedule while devhost runs."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from typing import Any

from azure.functions.timer import TimerRequest

from .functions import Invoke, trigger_of
from .schedule import Schedule

logger = logging.getLogger("devhost.timers")


class TimerRunner:
    def __init__(self, functions: list[Any], invoke: Invoke) -> None:
        self._invoke = invoke
        self._timers = [
            (fn, Schedule.parse(trigger_of(fn).schedule)) for fn in functions if trigger_of(fn).type == "timerTrigger"
        ]
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        for fn, schedule in self._timers:
            self._tasks.append(asyncio.create_task(self._run(fn, schedule), name=f"timer:{fn.get_function_name()}"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()

    async def _run(self, fn: Any, schedule: Schedule) -> None:
        trigger = trigger_of(fn)
        if trigger.run_on_startup:
            await self._fire(fn, past_due=False)
        while True:
            now = dt.datetime.now(dt.UTC)
            due = schedule.next_after(now)
            await asyncio.sleep((due - now).total_seconds())
            await self._fire(fn, past_due=False)

    async def _fire(self, fn: Any, *, past_due: bool) -> None:
        name = fn.get_function_name()
        try:
            await self._invoke(fn, TimerRequest(past_due=past_due))
        except Exception:
            logger.exception("Timer function %s failed", name)
