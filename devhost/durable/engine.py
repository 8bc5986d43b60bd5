"""The Durable Functions stand-in: owns the store, runs episodes one inbox event at a time, and dispatches the
activities and timers they ask for."""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Iterable
from pathlib import Path
from typing import cast

from azure.functions.decorators.function_app import Function
from starlette.routing import BaseRoute

from . import events as ev
from .activities import ActivityFunction
from .binding import client_binding_json
from .delivery import DeliveryMode
from .episode import EpisodeResult, OrchestratorHandle, run_episode
from .events import Event, EventType
from .history import HistoryStore, InboxItem, InstanceRow
from .http_api import build_routes
from .management import Management
from .status import TERMINAL_STATES
from .work import PendingWork

logger = logging.getLogger("devhost.durable")


class DurableEngine:
    def __init__(
        self,
        functions: Iterable[Function],
        *,
        db_path: Path,
        base_url: str,
        task_hub: str = "agentstream",
        system_key: str | None = None,
        master_key: str | None = None,
        delivery: DeliveryMode | None = None,
    ) -> None:
        self.orchestrators: dict[str, OrchestratorHandle] = {}
        self._activities: dict[str, ActivityFunction] = {}
        for function in functions:
            trigger = function.get_trigger()
            kind = None if trigger is None else trigger.type
            if kind == "orchestrationTrigger":
                handle = cast(OrchestratorHandle, function.get_user_function())
                self.orchestrators[str(function.get_function_name())] = handle
            elif kind == "activityTrigger":
                activity = ActivityFunction(function, self.client_binding)
                self._activities[activity.name] = activity
        self.base_url = base_url.rstrip("/")
        self.task_hub = task_hub
        self.system_key = system_key or secrets.token_urlsafe(24)
        self.master_key = master_key
        self._db_path = db_path
        self._store: HistoryStore | None = None
        self._delivery = delivery or DeliveryMode()
        self._work = PendingWork(self._activities, self._deliver, self._delivery)
        # When each inbox item becomes visible to the dispatcher (loop time), in the dispatch latency mode.
        self._visible_at: dict[int, float] = {}
        self._wake = asyncio.Event()
        self._worker: asyncio.Task[None] | None = None
        self._busy = False
        self.management = Management(self)
        self.routes: list[BaseRoute] = build_routes(self)

    def client_binding(self) -> str:
        return client_binding_json(self.base_url, self.task_hub, self.system_key)

    @property
    def store(self) -> HistoryStore:
        if self._store is None:
            raise RuntimeError("DurableEngine.start() has not been called")
        return self._store

    @property
    def work(self) -> PendingWork:
        return self._work

    async def start(self) -> None:
        self._store = HistoryStore(self._db_path)
        for row in self._store.list_instances():
            if row.status not in TERMINAL_STATES:
                self._resume_outstanding_work(row)
        self._worker = asyncio.get_running_loop().create_task(self._run())
        self.wake()

    async def stop(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            await asyncio.gather(self._worker, return_exceptions=True)
            self._worker = None
        await self._work.close()
        if self._store is not None:
            self._store.close()
            self._store = None

    async def wait_for_idle(self) -> None:
        """Return once no episode is queued or running and no activity is executing (armed timers don't count)."""
        while self._busy or self._work.activities_running or self._waiting_instances():
            await asyncio.sleep(0.01)

    def wake(self) -> None:
        self._wake.set()

    def _deliver(self, instance_id: str, execution_id: str, event: Event) -> None:
        if self._store is None:
            return
        with self._store.transaction():
            self._store.enqueue(instance_id, execution_id, event)
        self.wake()

    def _resume_outstanding_work(self, row: InstanceRow) -> None:
        """After a restart: re-run activities without a completion and re-arm timers that have not fired."""
        history = self.store.load_history(row.instance_id)
        seen = history + [i.event for i in self.store.inbox(row.instance_id) if i.execution_id == row.execution_id]
        done = {
            e["TaskScheduledId"] for e in seen if e["EventType"] in (EventType.TASK_COMPLETED, EventType.TASK_FAILED)
        }
        fired = {e["TimerId"] for e in seen if e["EventType"] == EventType.TIMER_FIRED}
        for event in history:
            key = (row.instance_id, row.execution_id, int(event["EventId"]))
            if event["EventType"] == EventType.TASK_SCHEDULED and key[2] not in done:
                if event["Name"] in self._activities:
                    self._work.start_activity(key, event["Name"], ev.activity_input(event))
            elif event["EventType"] == EventType.TIMER_CREATED and key[2] not in fired:
                self._work.arm_timer(key, event["FireAt"])

    def _waiting_instances(self) -> list[tuple[str, int]]:
        """Instances with events to process, and the id of the oldest; suspended ones wait for their resume."""
        waiting = []
        for instance_id, item_id in self.store.inbox_heads():
            row = self.store.get_instance(instance_id)
            if row is None or row.status != "Suspended":
                waiting.append((instance_id, item_id))
        return waiting

    def _runnable_instances(self) -> list[str]:
        """The waiting instances whose oldest event has spent its dispatch latency on the queue."""
        if not self._delivery.latency_ms:
            return [instance_id for instance_id, _ in self._waiting_instances()]
        loop = asyncio.get_running_loop()
        runnable = []
        for instance_id, item_id in self._waiting_instances():
            if item_id not in self._visible_at:
                delay = self._delivery.hop_delay()
                self._visible_at[item_id] = loop.time() + delay
                loop.call_later(delay, self.wake)
            if self._visible_at[item_id] <= loop.time():
                runnable.append(instance_id)
        return runnable

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            self._busy = True
            try:
                await self._drain()
            finally:
                self._busy = False

    async def _drain(self) -> None:
        """Process queued events, one episode per event, round-robin over instances, until none is runnable."""
        while pending := self._runnable_instances():
            for instance_id in pending:
                try:
                    self._process_next(instance_id)
                except Exception:
                    # A storage failure: leave the event queued until the next wake-up rather than spin on it.
                    logger.exception("devhost could not process instance %s", instance_id)
                    return
                # Episodes are CPU-only; yield between them so HTTP requests stay responsive.
                await asyncio.sleep(0)

    def _process_next(self, instance_id: str) -> None:
        inbox = self.store.inbox(instance_id)
        row = self.store.get_instance(instance_id)
        if not inbox or (row is not None and row.status == "Suspended"):
            return
        item = inbox[0]
        if row is None or row.execution_id != item.execution_id or row.status in TERMINAL_STATES:
            # Late completions for a finished, replaced or purged execution are dropped, as DTFx does.
            with self.store.transaction():
                self.store.delete_inbox_item(item.id)
            self._visible_at.pop(item.id, None)
            return
        history = self.store.load_history(instance_id)
        result = self._episode(row, history, item)
        if self._delivery.duplicate:
            # The first replay's work is lost, as when a worker's lease on the work item runs out before it commits.
            result = self._episode(row, history, item)
        self._commit(row, history, item, result)
        self._visible_at.pop(item.id, None)

    def _episode(self, row: InstanceRow, history: list[Event], item: InboxItem) -> EpisodeResult:
        handle_fn = self.orchestrators.get(row.name)
        now = ev.utcnow()
        try:
            if handle_fn is None:
                raise LookupError(f"The function '{row.name}' doesn't exist or is not an orchestrator function.")
            return run_episode(
                name=row.name,
                instance_id=row.instance_id,
                handle_fn=handle_fn,
                history=history,
                new_event=item.event,
                now=now,
                activity_names=self._activities.keys(),
            )
        except Exception as exc:
            logger.exception("devhost could not run an episode of instance %s", row.instance_id)
            output = f"Orchestrator function '{row.name}' failed: {exc}"
            head = [ev.orchestrator_started(now), item.event]
            closing = ev.execution_completed(now, ev.next_event_id(history), ev.OrchestrationStatus.FAILED, output)
            return EpisodeResult("Failed", [*head, closing, ev.orchestrator_completed(now)], output=output)

    def _commit(self, row: InstanceRow, history: list[Event], item: InboxItem, result: EpisodeResult) -> None:
        now = ev.utcnow()
        store = self.store
        with store.transaction():
            store.delete_inbox_item(item.id)
            row.status = result.status
            row.custom_status = result.custom_status
            row.last_updated_time = now
            if result.status == "ContinuedAsNew":
                store.clear_history(row.instance_id)
                row.execution_id = ev.new_execution_id()
                row.input = result.continue_input
                row.output = None
                started = ev.execution_started(
                    now,
                    instance_id=row.instance_id,
                    execution_id=row.execution_id,
                    name=row.name,
                    input_text=result.continue_input,
                )
                store.enqueue(row.instance_id, row.execution_id, started)
            else:
                store.append_history(row.instance_id, len(history), result.events)
                row.output = result.output
            store.put_instance(row)
        if result.status != "Running":
            self._work.cancel_instance(row.instance_id)
            self.wake()
            return
        for timer_id in result.canceled_timers:
            self._work.cancel_timer((row.instance_id, row.execution_id, timer_id))
        for activity in result.activities:
            key = (row.instance_id, row.execution_id, activity.task_id)
            self._work.start_activity(key, activity.name, activity.input_text)
        for timer in result.timers:
            self._work.arm_timer((row.instance_id, row.execution_id, timer.timer_id), timer.fire_at)
