"""The event store boundary: what every backend provides.

A thread's log is a sequence of envelopes with contiguous `seq` from 1. Each write method is one
atomic operation on the backend, so a crash leaves either all of its events or none of them.
Writers tell in-process listeners (the shared tails) about every committed envelope, which is
what lets a caught-up reader wait without polling the store; `wait_for_commits` covers writers in
other processes.

A thread's conversation is kept once, apart from the log: its messages, appended by the writes
that start runs and commit steps. The MESSAGES_SNAPSHOT that ends each run is stored as a reference
to a range of them, so a thread's stored bytes grow linearly with its turns (agentstream.log.snapshots).

Retention: an event is kept for `retention` seconds after it was written. Writes to a thread trim
its events older than that, and the thread remembers the highest seq it dropped (its floor): a
read after a cursor below the floor raises CursorExpired. A thread with no write for `retention`
is idle: `purge_idle_threads` deletes it whole (backends may drop it earlier by themselves).

Queued runs (an agent whose `multitask_strategy` is "enqueue" or "interrupt"): a thread keeps, in
arrival order, the runs waiting for its active run to end, each with what starting it needs (an
opaque JSON payload). When a run ends (other than interrupted: approval pending), the first
waiting run *holds* the thread: it becomes the thread's `active_run_id` before it has a run record
or any event, so nothing else can start in between, and a reconciler finds it among the active
runs if the process starting it dies. `start_run(..., queued=True)` then records it. A cancelled
queued run stays in the queue as cancelled (so a repeated cancel gets the same answer) and never
starts.
"""

from __future__ import annotations

import abc
import asyncio
import enum
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ... import telemetry
from ..events import Envelope, NewEvent

if TYPE_CHECKING:
    from typing import Self

    from ...config import Settings

CommitListener = Callable[[str, list[Envelope]], None]
Clock = Callable[[], float]

DEFAULT_RETENTION = 7 * 86400.0


class RunStatus(enum.StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    #: Ended waiting for a person's decision on tool calls (see agentstream.agent.approvals).
    INTERRUPTED = "interrupted"


class StepStatus(enum.StrEnum):
    STARTED = "started"
    COMMITTED = "committed"
    DISCARDED = "discarded"


@dataclass(frozen=True, slots=True)
class ThreadHead:
    thread_id: str
    last_seq: int
    active_run_id: str | None
    #: Events up to this seq are past retention and gone; a cursor below it is expired.
    floor: int = 0
    #: The agent the thread belongs to; None for a thread stored before threads had owners.
    agent: str | None = None


@dataclass(frozen=True, slots=True)
class RunInfo:
    run_id: str
    status: RunStatus
    created_at: float
    finished_at: float | None
    start_seq: int
    end_seq: int | None
    usage: dict[str, int] = field(default_factory=dict)
    error: dict[str, str] | None = None
    cancel_requested: bool = False


@dataclass(frozen=True, slots=True)
class ThreadInfo:
    thread_id: str
    created_at: float
    updated_at: float
    last_seq: int
    active_run_id: str | None
    runs: list[RunInfo]
    agent: str | None = None


@dataclass(frozen=True, slots=True)
class StepAttempt:
    step_id: str
    attempt: int


@dataclass(frozen=True, slots=True)
class StepRecord:
    step_id: str
    run_id: str
    status: StepStatus
    attempt: int
    start_seq: int
    result: Any = None


@dataclass(frozen=True, slots=True)
class ActiveRun:
    thread_id: str
    run_id: str


@dataclass(frozen=True, slots=True)
class QueuedRun:
    """A run waiting for the thread's active run to end (or cancelled while it waited)."""

    run_id: str
    queued_at: float
    #: What starting it needs (its messages, its orchestration's input); the store keeps it as given.
    payload: dict[str, Any]
    cancelled: bool = False


@dataclass(frozen=True, slots=True)
class PurgedThread:
    """A thread deleted for being idle, with its runs (their durable instances can go too)."""

    thread_id: str
    run_ids: list[str]


class EventStore(abc.ABC):
    backend: str
    #: True when `wait_for_commits` is woken by the backend itself as soon as any process commits.
    #: Otherwise it is one read after a wait, and the TailHub polls adaptively.
    pushes_commits: bool = False

    def __init__(self, *, retention: float = DEFAULT_RETENTION, clock: Clock = time.time) -> None:
        self._listeners: list[CommitListener] = []
        self.retention = retention
        self._clock = clock

    @classmethod
    @abc.abstractmethod
    def from_settings(cls, settings: Settings, *, clock: Clock = time.time) -> Self:
        """The store the app's settings describe."""

    def add_listener(self, listener: CommitListener) -> None:
        self._listeners.append(listener)

    def _committed(self, thread_id: str, envelopes: list[Envelope]) -> list[Envelope]:
        # Called by the public writes themselves, so no backend can leave the tails unwoken.
        if envelopes:
            telemetry.record_events_appended(len(envelopes))
            for listener in self._listeners:
                listener(thread_id, envelopes)
        return envelopes

    @abc.abstractmethod
    async def ping(self) -> None:
        """Raise StoreUnavailable unless the backend answers."""

    async def start_run(
        self,
        thread_id: str,
        run_id: str,
        events: list[NewEvent],
        messages: list[dict[str, Any]],
        *,
        create: bool,
        agent: str,
        queued: bool = False,
    ) -> list[Envelope]:
        """Make `run_id` the thread's active run and append its first events and the caller's messages.

        Creates the thread, owned by `agent`, when `create` is true; otherwise raises ThreadNotFound
        for an unknown thread. Raises AgentMismatch if the thread belongs to another agent (checked
        first), then RunAlreadyActive if another run is active; nothing is written then. A thread
        with no owner (stored before threads had one) becomes `agent`'s in the same write.

        With `queued`, `run_id` is a queued run that holds the thread: it leaves the queue in the same
        write. RunAlreadyActive then names the run holding the thread (`run_id` itself if it was
        recorded already); RunNotFound says it is not waiting in the queue (cancelled, or unknown).
        """
        return self._committed(
            thread_id,
            await self._start_run(thread_id, run_id, events, messages, create=create, agent=agent, queued=queued),
        )

    @abc.abstractmethod
    async def _start_run(
        self,
        thread_id: str,
        run_id: str,
        events: list[NewEvent],
        messages: list[dict[str, Any]],
        *,
        create: bool,
        agent: str,
        queued: bool = False,
    ) -> list[Envelope]:
        """The backend's `start_run`: the write alone, which tells no listener."""

    async def append(
        self,
        thread_id: str,
        run_id: str,
        events: list[NewEvent],
        *,
        key: str | None = None,
        attempt: StepAttempt | None = None,
    ) -> list[Envelope]:
        """Append events contiguously. A `key` already used on this thread appends nothing again.

        Raises RunOver if the run is cancelling or finished, and StepSuperseded if `attempt` is no
        longer its step's current attempt.
        """
        return self._committed(thread_id, await self._append(thread_id, run_id, events, key=key, attempt=attempt))

    @abc.abstractmethod
    async def _append(
        self,
        thread_id: str,
        run_id: str,
        events: list[NewEvent],
        *,
        key: str | None = None,
        attempt: StepAttempt | None = None,
    ) -> list[Envelope]:
        """The backend's `append`: the write alone, which tells no listener."""

    @abc.abstractmethod
    async def read(self, thread_id: str, *, after: int, limit: int = 1000) -> list[Envelope]:
        """Envelopes with seq > after, in order, at most `limit`.

        Raises CursorExpired when `after` is below the thread's floor (events past retention).
        """

    async def wait_for_commits(self, thread_id: str, *, after: int, timeout: float) -> list[Envelope]:
        """Envelopes after `after` committed by any process, waiting up to `timeout` seconds for some.

        This default waits, then reads once: the caller polls. Backends that can block on the
        server override it and set `pushes_commits`.
        """
        await asyncio.sleep(timeout)
        return await self.read(thread_id, after=after)

    @abc.abstractmethod
    async def head(self, thread_id: str) -> ThreadHead | None: ...

    @abc.abstractmethod
    async def get_thread(self, thread_id: str) -> ThreadInfo | None: ...

    @abc.abstractmethod
    async def get_run(self, thread_id: str, run_id: str) -> RunInfo | None: ...

    @abc.abstractmethod
    async def request_cancel(self, thread_id: str, run_id: str) -> RunInfo | None:
        """Flag a running run as cancelling: from now on only the finishing writes are accepted.

        Returns the run as it stands after the call, or None if there is no such run.
        """

    @abc.abstractmethod
    async def get_messages(self, thread_id: str, *, start: int = 0, end: int | None = None) -> list[dict[str, Any]]:
        """The thread's committed conversation, as AG-UI messages (camelCase): those with index
        `start` <= i < `end` (to the last one when `end` is None).

        Messages are only ever appended (one index per message, from 0, in conversation order) and
        outlive retention trimming, so a range once read always reads the same: a stored
        MESSAGES_SNAPSHOT refers to one (see agentstream.log.snapshots).
        """

    @abc.abstractmethod
    async def message_count(self, thread_id: str) -> int:
        """How many messages the thread's conversation holds (0 for an unknown thread)."""

    @abc.abstractmethod
    async def get_step(self, thread_id: str, step_id: str) -> StepRecord | None: ...

    @abc.abstractmethod
    async def open_steps(self, thread_id: str, run_id: str) -> list[StepRecord]:
        """Steps of the run that started and neither committed nor were discarded."""

    @abc.abstractmethod
    async def begin_step(self, thread_id: str, run_id: str, step_id: str, attempt: int) -> StepRecord:
        """Record that `attempt` of a step starts now; its output follows the current end of the log."""

    async def discard_step(
        self, thread_id: str, run_id: str, step_id: str, attempt: int, events: list[NewEvent]
    ) -> list[Envelope]:
        """Append the events closing an interrupted attempt and mark it discarded (once)."""
        return self._committed(thread_id, await self._discard_step(thread_id, run_id, step_id, attempt, events))

    @abc.abstractmethod
    async def _discard_step(
        self, thread_id: str, run_id: str, step_id: str, attempt: int, events: list[NewEvent]
    ) -> list[Envelope]:
        """The backend's `discard_step`: the write alone, which tells no listener."""

    async def commit_step(
        self,
        thread_id: str,
        run_id: str,
        step_id: str,
        *,
        result: Any,
        events: list[NewEvent],
        messages: list[dict[str, Any]],
        usage: dict[str, int] | None = None,
        attempt: int | None = None,
    ) -> list[Envelope]:
        """Append a step's last events, its messages and usage, and store its result, atomically.

        A step already committed appends nothing. With `attempt`, the commit is refused with
        StepSuperseded unless that attempt is the step's current one.
        """
        return self._committed(
            thread_id,
            await self._commit_step(
                thread_id,
                run_id,
                step_id,
                result=result,
                events=events,
                messages=messages,
                usage=usage,
                attempt=attempt,
            ),
        )

    @abc.abstractmethod
    async def _commit_step(
        self,
        thread_id: str,
        run_id: str,
        step_id: str,
        *,
        result: Any,
        events: list[NewEvent],
        messages: list[dict[str, Any]],
        usage: dict[str, int] | None = None,
        attempt: int | None = None,
    ) -> list[Envelope]:
        """The backend's `commit_step`: the write alone, which tells no listener."""

    async def finish_run(
        self,
        thread_id: str,
        run_id: str,
        status: RunStatus,
        events: list[NewEvent],
        *,
        error: dict[str, str] | None = None,
    ) -> list[Envelope]:
        """Append the run's closing events, the last one terminal, and close the run, atomically.

        A run already over appends nothing. The run's `end_seq` is the terminal event's seq. A run
        with a cancel requested ends only as CANCELLED: any other `status` raises CancelRequested,
        decided in the same atomic operation, so whoever was told `cancelling` is told the truth.
        Unless the run ends INTERRUPTED, the first waiting queued run then holds the thread.
        """
        return self._committed(thread_id, await self._finish_run(thread_id, run_id, status, events, error=error))

    @abc.abstractmethod
    async def _finish_run(
        self,
        thread_id: str,
        run_id: str,
        status: RunStatus,
        events: list[NewEvent],
        *,
        error: dict[str, str] | None = None,
    ) -> list[Envelope]:
        """The backend's `finish_run`: the write alone, which tells no listener."""

    @abc.abstractmethod
    async def enqueue_run(self, thread_id: str, run_id: str, payload: dict[str, Any], *, agent: str) -> int | None:
        """Queue `run_id` behind the thread's active run and the runs already waiting.

        Returns its place in the queue (1: next). Returns None, writing nothing, when the thread has
        no active run and no run waiting: the run can start now. Raises ThreadNotFound, then
        AgentMismatch if the thread belongs to another agent, then RunAlreadyActive(thread,
        run_id) if `run_id` is already a run or queued run of the thread.
        """

    @abc.abstractmethod
    async def get_queue(self, thread_id: str) -> list[QueuedRun]:
        """The runs waiting on the thread, in the order they will start (cancelled ones left out)."""

    @abc.abstractmethod
    async def get_queued_run(self, thread_id: str, run_id: str) -> QueuedRun | None:
        """A queued run that has not started, waiting or cancelled; None if there is none of that id."""

    @abc.abstractmethod
    async def cancel_queued_run(self, thread_id: str, run_id: str) -> QueuedRun | None:
        """Mark a queued run cancelled, so it never starts; a run that held the thread hands it to the
        next waiting run (or frees it). Returns the entry after the call, None if there is none."""

    @abc.abstractmethod
    async def list_active_runs(self) -> list[ActiveRun]:
        """Every thread's active run (or the queued run holding it), for the sweep that finds runs left
        without an orchestration."""

    @abc.abstractmethod
    async def purge_idle_threads(self, idle_before: float) -> list[PurgedThread]:
        """Delete every thread whose last write was before `idle_before` (a Unix time), whole."""

    @abc.abstractmethod
    async def close(self) -> None: ...
