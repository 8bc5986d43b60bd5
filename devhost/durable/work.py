"""In-memory handles of the work an instance is waiting on: running activities and armed timers.

Nothing here is durable: the history says which activities and timers are outstanding, and the engine re-creates
these handles from it after a restart. Completions are handed to ``deliver`` as history events; in the duplicate
delivery mode an activity runs twice and both completions are handed over, as at-least-once delivery can.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime

from .. import faults
from . import events as ev
from .activities import ActivityFunction
from .delivery import DeliveryMode
from .events import Event

logger = logging.getLogger("devhost.durable")

WorkKey = tuple[str, str, int]
"""(instance id, execution id, task or timer id)."""

Deliver = Callable[[str, str, Event], None]


class PendingWork:
    def __init__(
        self, activities: dict[str, ActivityFunction], deliver: Deliver, delivery: DeliveryMode | None = None
    ) -> None:
        self._activities = activities
        self._deliver = deliver
        self._delivery = delivery or DeliveryMode()
        self._running: dict[WorkKey, asyncio.Task[None]] = {}
        self._duplicates: set[asyncio.Task[None]] = set()
        self._timers: dict[WorkKey, asyncio.TimerHandle] = {}

    @property
    def activities_running(self) -> bool:
        return bool(self._running or self._duplicates)

    def start_activity(self, key: WorkKey, name: str, input_text: str) -> None:
        if key in self._running:
            return
        task = asyncio.get_running_loop().create_task(self._run_activity(key, name, input_text))
        self._running[key] = task
        task.add_done_callback(lambda _t: self._running.pop(key, None))

    async def _run_activity(self, key: WorkKey, name: str, input_text: str) -> None:
        await asyncio.sleep(self._delivery.hop_delay())
        concurrently = self._delivery.duplicate and self._delivery.duplicate_concurrently()
        if concurrently:
            self._start_duplicate(key, name, input_text)
        await self._execute(key, name, input_text)
        if self._delivery.duplicate and not concurrently:
            self._start_duplicate(key, name, input_text)

    def _start_duplicate(self, key: WorkKey, name: str, input_text: str) -> None:
        # A redelivered message runs whatever became of its instance since: nothing cancels it but a shutdown.
        task = asyncio.get_running_loop().create_task(self._execute(key, name, input_text))
        self._duplicates.add(task)
        task.add_done_callback(self._duplicates.discard)

    async def _execute(self, key: WorkKey, name: str, input_text: str) -> None:
        await faults.areached(f"activity.{name}")
        outcome = await self._activities[name].invoke(input_text)
        faults.reached(f"completed.{name}")
        instance_id, execution_id, task_id = key
        now = ev.utcnow()
        if outcome.reason is None:
            event = ev.task_completed(now, task_id, outcome.result)
        else:
            event = ev.task_failed(now, task_id, outcome.reason, outcome.details or "")
        self._deliver(instance_id, execution_id, event)

    def arm_timer(self, key: WorkKey, fire_at: str) -> None:
        if key in self._timers:
            return
        delay = (ev.parse_event_time(fire_at) - datetime.now(UTC)).total_seconds()
        loop = asyncio.get_running_loop()
        self._timers[key] = loop.call_later(max(0.0, delay), self._fire, key, fire_at)

    def _fire(self, key: WorkKey, fire_at: str) -> None:
        self._timers.pop(key, None)
        instance_id, execution_id, timer_id = key
        self._deliver(instance_id, execution_id, ev.timer_fired(ev.utcnow(), timer_id, fire_at))

    def cancel_timer(self, key: WorkKey) -> None:
        handle = self._timers.pop(key, None)
        if handle is not None:
            handle.cancel()

    def cancel_instance(self, instance_id: str) -> None:
        """Drop everything an instance was waiting on (it finished, was terminated, purged or continued as new)."""
        for key in [k for k in self._timers if k[0] == instance_id]:
            self.cancel_timer(key)
        for key in [k for k in self._running if k[0] == instance_id]:
            self._running[key].cancel()

    async def close(self) -> None:
        for handle in self._timers.values():
            handle.cancel()
        self._timers.clear()
        tasks = [*self._running.values(), *self._duplicates]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
