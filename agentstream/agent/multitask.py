"""A second message while a run is active: each agent's `multitask_strategy`.

- "reject" (the default): `409 run_active`, nothing written.
- "enqueue": the run waits in the thread's queue (in the event store) and starts when the runs
  before it have ended, in arrival order. Its request answers `202` with status `queued`.
- "interrupt": the run is queued the same way and the active run is cancelled, as the cancel
  route does it: the active run ends with its cancelled terminal event, then the new run starts.

How a queued run starts: when a run ends (other than interrupted, waiting for approval), the store
hands the thread to the first waiting run in the same write (it *holds* the thread), and the
ended run's orchestration then starts the held run's orchestration (`reconcile.start_held_run`),
whose first activity opens the run (`open_queued_run`): RUN_STARTED, the thread's state as it is
now, the queued messages. A host dying in between leaves a held thread without an orchestration,
which reconciliation starts. A run ended interrupted keeps the queue waiting until a resume has
run. A queued run cancelled before its turn never starts.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Literal

from .. import telemetry
from ..exceptions import RunAlreadyActive, RunNotFound, ThreadNotFound
from ..log.stores.base import EventStore, RunStatus
from . import state
from .agents import Agent
from .opening import opening_events
from .reconcile import OrchestrationStarter, OrchestrationStatus, RunSignal, reconcile_run, start_held_run

logger = logging.getLogger(__name__)

MultitaskStrategy = Literal["reject", "enqueue", "interrupt"]
STRATEGIES: tuple[MultitaskStrategy, ...] = ("reject", "enqueue", "interrupt")


@dataclass(frozen=True, slots=True)
class CancelAnswer:
    status: str
    """"cancelling" while the run winds down, else the status it ended with ("cancelled")."""
    over: bool
    """The run had already ended in another way, and is not cancelled."""


async def cancel_run(
    store: EventStore,
    thread_id: str,
    run_id: str,
    signal_cancel: RunSignal,
    orchestration_status: OrchestrationStatus,
    start_orchestration: OrchestrationStarter,
) -> CancelAnswer:
    """Cancel a run or a queued run; what the cancel route answers. Idempotent.

    A running run is flagged, then signalled ("cancelling"); one found without a live orchestration
    ends cancelled here and now. A queued run is marked cancelled and never starts ("cancelled");
    if it held the thread, the next queued run takes it. Raises ThreadNotFound / RunNotFound.
    """
    run = await store.request_cancel(thread_id, run_id)
    if run is None:
        queued = await store.cancel_queued_run(thread_id, run_id)
        if queued is None:
            # Started between the two reads: cancel it as a run.
            if await store.get_run(thread_id, run_id) is not None:
                return await cancel_run(
                    store, thread_id, run_id, signal_cancel, orchestration_status, start_orchestration
                )
            if await store.head(thread_id) is None:
                raise ThreadNotFound(thread_id)
            raise RunNotFound(thread_id, run_id)
        telemetry.run_logger(logger, thread_id, run_id).info("Queued run %s cancelled before it started", run_id)
        await start_held_run(store, thread_id, orchestration_status, start_orchestration)
        return CancelAnswer(RunStatus.CANCELLED.value, over=False)
    if run.status is RunStatus.RUNNING and await reconcile_run(
        store, thread_id, run_id, orchestration_status, start_orchestration=start_orchestration
    ):
        run = await store.get_run(thread_id, run_id) or run
    if run.status is RunStatus.CANCELLED:
        return CancelAnswer(run.status.value, over=False)
    if run.status is not RunStatus.RUNNING:
        return CancelAnswer(run.status.value, over=True)
    try:
        await signal_cancel(thread_id, run_id)
    except Exception:
        # The flag is set: the run's next write is refused and it winds down by itself.
        telemetry.run_logger(logger, thread_id, run_id).warning(
            "Could not signal the cancellation of run %s", run_id, exc_info=True
        )
    return CancelAnswer("cancelling", over=False)


async def interrupt(
    store: EventStore,
    thread_id: str,
    active_run_id: str,
    signal_cancel: RunSignal,
    orchestration_status: OrchestrationStatus,
    start_orchestration: OrchestrationStarter,
) -> None:
    """Cancel the thread's active run for a run just queued behind it (the "interrupt" strategy)."""
    answer = await cancel_run(store, thread_id, active_run_id, signal_cancel, orchestration_status, start_orchestration)
    if answer.over:
        # It ended by itself meanwhile; the queued run takes the thread all the same.
        await start_held_run(store, thread_id, orchestration_status, start_orchestration)


async def open_queued_run(store: EventStore, thread_id: str, run_id: str, agent: Agent) -> bool:
    """Record a queued run that holds its thread: its opening events and messages. False when it
    was cancelled before its turn (it never starts); True when it is recorded (now or before)."""
    queued = await store.get_queued_run(thread_id, run_id)
    if queued is None or queued.cancelled:
        return queued is None and await store.get_run(thread_id, run_id) is not None
    payload = queued.payload
    opening = payload.get("state")
    if opening is None:
        opening = await state.thread_state(store, await store.get_thread(thread_id))
    messages = payload["messages"]
    events = opening_events(thread_id, run_id, opening, messages)
    try:
        await store.start_run(thread_id, run_id, events, messages, create=False, agent=agent.name, queued=True)
    except RunAlreadyActive as exc:
        if exc.active_run_id == run_id:
            return True  # an earlier attempt of this step recorded it
        raise RuntimeError(f"Queued run {run_id!r} does not hold its thread: run {exc.active_run_id!r} does.") from None
    except RunNotFound:
        return False  # cancelled between the read and the write
    telemetry.run_logger(logger, thread_id, run_id).info("Queued run %s opened on thread %s", run_id, thread_id)
    return True


async def queued_messages(store: EventStore, thread_id: str) -> list[dict[str, Any]]:
    """The messages of the runs waiting on the thread, in order: front doors that take a client's whole
    history (AG-UI, the AI SDK) count them as sent already, so a queued message is not queued twice."""
    return [message for queued in await store.get_queue(thread_id) for message in queued.payload["messages"]]
