"""No run stays active without a live orchestration (invariant 9).

A run is recorded (RUN_STARTED and the caller's messages) before its orchestration is started,
and an operator can terminate an orchestration at any time. So a running run may have nothing
left that will ever finish it: the host died between the two, or its instance was terminated,
failed or purged. Reconciling a run asks the host for the state of its orchestration and, when
none is live, writes the run's one terminal event itself: `RUN_ERROR` code `orchestration_lost`
after a MESSAGES_SNAPSHOT, through `steps.finish_run` like every other ending (so a run whose
cancel was requested ends cancelled instead). That frees the thread.

The grace rule: between a start request's commit and its orchestration start, the instance does
not exist yet, and that request may still be on its way. A run without an instance therefore
counts as lost only once it is older than ORCHESTRATION_START_GRACE_SECONDS. An instance that
exists and is no longer running is lost at once: it will never write again. If a start arrives
after its run was ended here, the orchestration finds the run over at its first step and ends
without writing anything.

Runs are reconciled when a thread is continued (before a new run is refused with `409
run_active`), when a run is cancelled, when a thread's status is read, and by the retention
timer's sweep over every active run. The orchestration's state comes through a callback from
the host, so this module knows nothing of Azure Functions.
"""

from __future__ import annotations

import enum
import logging
import time
from collections.abc import Awaitable, Callable

from .. import telemetry
from ..config import get_settings
from ..log.stores.base import EventStore, RunStatus
from .steps import StepContext, finish_run

logger = logging.getLogger(__name__)

LOST_CODE = "orchestration_lost"


class OrchestrationState(enum.StrEnum):
    LIVE = "live"
    """Pending, running or suspended: the orchestration will finish the run itself."""
    ENDED = "ended"
    """Completed, failed, terminated: it will never write to the run again."""
    MISSING = "missing"
    """No such instance: not started (yet), or purged."""


OrchestrationStatus = Callable[[str, str], Awaitable[OrchestrationState]]
"""The state of the orchestration of (thread id, run id). Raises when the host cannot tell."""


async def reconcile_run(
    store: EventStore, thread_id: str, run_id: str, orchestration_status: OrchestrationStatus
) -> bool:
    """End the run if it is running without a live orchestration. True when this call ended it.

    A host that cannot say (its status API failing) leaves the run as it is: only a definite
    answer ends a run.
    """
    run = await store.get_run(thread_id, run_id)
    if run is None or run.status is not RunStatus.RUNNING:
        return False
    log = telemetry.run_logger(logger, thread_id, run_id)
    try:
        state = await orchestration_status(thread_id, run_id)
    except Exception:
        log.warning("Could not read the orchestration state of run %s; leaving it running", run_id, exc_info=True)
        return False
    if state is OrchestrationState.LIVE:
        return False
    if state is OrchestrationState.MISSING:
        age = time.time() - run.created_at
        if age < get_settings().orchestration_start_grace_seconds:
            return False
        message = f"The run's orchestration was never started or is gone ({age:.0f} s after the run was created)."
    else:
        message = "The run's orchestration ended without finishing the run."
    log.warning("Run %s has no live orchestration (%s): ending it", run_id, state.value)
    await finish_run(StepContext(store, thread_id, run_id), {"code": LOST_CODE, "message": message})
    run = await store.get_run(thread_id, run_id)
    return run is not None and run.status is not RunStatus.RUNNING


async def reconcile_active_runs(store: EventStore, orchestration_status: OrchestrationStatus) -> int:
    """Reconcile every active run in the store (the retention timer's sweep). Returns how many ended."""
    ended = 0
    with telemetry.span("agentstream.reconcile_active_runs"):
        try:
            active_runs = await store.list_active_runs()
        except Exception:
            # The purge that follows the sweep must still run; the next sweep tries again.
            logger.warning("Could not list the active runs to reconcile", exc_info=True)
            return 0
        for active in active_runs:
            try:
                ended += await reconcile_run(store, active.thread_id, active.run_id, orchestration_status)
            except Exception:
                # One thread's failure must not stop the sweep of the others; the next sweep retries it.
                telemetry.run_logger(logger, active.thread_id, active.run_id).warning(
                    "Could not reconcile run %s", active.run_id, exc_info=True
                )
    logger.info("Reconciliation sweep: %d runs without a live orchestration ended", ended)
    return ended
