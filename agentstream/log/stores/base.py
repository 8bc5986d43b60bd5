"""The event store boundary: what every backend provides.

A thread's log is a sequence of envelopes with contiguous `seq` from 1. Each write method is one
atomic operation on the backend, so a crash leaves either all of its events or none of them.
Writers tell in-process listeners (the shared tails) about every committed envelope, which is
what lets a caught-up reader wait without polling the store; `wait_for_commits` covers writers in
other processes.

Retention: an event is kept for `retention` seconds after it was written. Writes to a thread trim
its events older than that, and the thread remembers the highest seq it dropped (its floor): a
read after a cursor below the floor raises CursorExpired. A thread with no write for `retention`
is idle: `purge_idle_threads` deletes it whole (backends may drop it earlier by themselves).
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
        if envelopes:
            telemetry.record_events_appended(len(envelopes))
            for listener in self._listeners:
                listener(thread_id, envelopes)
        return envelopes

    @abc.abstractmethod
    async def ping(self) -> None:
        """Raise StoreUnavailable unless the backend answers."""

    @abc.abstractmethod
    async def start_run(
        self,
        thread_id: str,
        run_id: str,
        events: list[NewEvent],
        messages: list[dict[str, Any]],
        *,
        create: bool,
        agent: str,
    ) -> list[Envelope]:
        """Make `run_id` the thread's active run and append its first events and the caller's messages.

        Creates the thread, owned by `agent`, when `create` is true; otherwise raises ThreadNotFound
        for an unknown thread. Raises AgentMismatch if the thread belongs to another agent (checked
        first), then RunAlreadyActive if another run is active; nothing is written then. A thread
        with no owner (stored before threads had one) becomes `agent`'s in the same write.
        """

    @abc.abstractmethod
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
    async def get_messages(self, thread_id: str) -> list[dict[str, Any]]:
        """The thread's committed conversation, as AG-UI messages (camelCase)."""

    @abc.abstractmethod
    async def get_step(self, thread_id: str, step_id: str) -> StepRecord | None: ...

    @abc.abstractmethod
    async def open_steps(self, thread_id: str, run_id: str) -> list[StepRecord]:
        """Steps of the run that started and neither committed nor were discarded."""

    @abc.abstractmethod
    async def begin_step(self, thread_id: str, run_id: str, step_id: str, attempt: int) -> StepRecord:
        """Record that `attempt` of a step starts now; its output follows the current end of the log."""

    @abc.abstractmethod
    async def discard_step(
        self, thread_id: str, run_id: str, step_id: str, attempt: int, events: list[NewEvent]
    ) -> list[Envelope]:
        """Append the events closing an interrupted attempt and mark it discarded (once)."""

    @abc.abstractmethod
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

    @abc.abstractmethod
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
        """

    @abc.abstractmethod
    async def list_active_runs(self) -> list[ActiveRun]:
        """Every thread's active run, for the sweep that finds runs left without an orchestration."""

    @abc.abstractmethod
    async def purge_idle_threads(self, idle_before: float) -> list[PurgedThread]:
        """Delete every thread whose last write was before `idle_before` (a Unix time), whole."""

    @abc.abstractmethod
    async def close(self) -> None: ...
