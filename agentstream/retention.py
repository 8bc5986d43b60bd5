"""The retention purge: threads idle longer than EVENT_RETENTION are deleted whole.

The store deletes each idle thread (events, runs, messages, steps) and names its runs; each run's
durable instance history is then purged through the callback the host provides, which knows how
the host names a run's instance. Last comes a sweep of finished instances created before the
cutoff, which also catches a history whose per-run purge failed after its thread was gone: a
finished orchestration is never needed again, its conversation lives in the store.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from . import telemetry
from .log.stores.base import EventStore

logger = logging.getLogger(__name__)

HistoryPurge = Callable[[str, str], Awaitable[None]]
"""Purges the durable instance history of one run (thread id, run id); a missing instance is no error."""
FinishedHistorySweep = Callable[[dt.datetime], Awaitable[int]]
"""Purges finished durable instances created before the given time; returns how many went."""


@dataclass(frozen=True, slots=True)
class PurgeReport:
    threads: int
    runs: int
    histories_swept: int
    history_failures: int


async def purge_idle_threads(
    store: EventStore,
    retention_seconds: float,
    purge_history: HistoryPurge,
    sweep_finished_histories: FinishedHistorySweep,
    *,
    now: float | None = None,
) -> PurgeReport:
    idle_before = (time.time() if now is None else now) - retention_seconds
    with telemetry.span("agentstream.purge_idle_threads"):
        purged = await store.purge_idle_threads(idle_before)
        failures = 0
        for thread in purged:
            for run_id in thread.run_ids:
                try:
                    await purge_history(thread.thread_id, run_id)
                except Exception:
                    failures += 1
                    telemetry.run_logger(logger, thread.thread_id, run_id).warning(
                        "Could not purge the durable history of run %s; the sweep retries it", run_id, exc_info=True
                    )
        try:
            swept = await sweep_finished_histories(dt.datetime.fromtimestamp(idle_before, dt.UTC))
        except Exception:
            logger.warning("Could not sweep finished durable histories; the next purge retries", exc_info=True)
            swept = 0
    report = PurgeReport(len(purged), sum(len(t.run_ids) for t in purged), swept, failures)
    logger.info(
        "Retention purge: %d idle threads with %d runs deleted, %d finished histories swept, %d history failures",
        report.threads,
        report.runs,
        report.histories_swept,
        report.history_failures,
    )
    return report
