"""Redis Streams: each thread's log is a stream whose entry ids are the seqs themselves (`<seq>-0`).

Every write is one Lua script call (`redis_scripts.py`): one round trip, atomic on the server, with
the seq assigned inside the script, so writers in any number of processes stay contiguous. Reading
after a cursor is one XRANGE from `(<cursor>-0`. The tails of this process are woken by one
blocking XREAD that watches every tailed thread at once (`redis_watcher`).

Retention: each write trims the thread's events older than the retention and sets all of the
thread's keys to expire one retention period later, so an idle thread disappears by itself. A
sorted set of threads by last write and a set of run ids per thread (neither of which expires)
let the purge report threads that Redis already dropped, with their runs.

All keys share one hash slot, so this works on a clustered Redis too (Azure Managed Redis), where
the event store then lives on one shard.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

import redis.asyncio
import redis.exceptions
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from ...exceptions import (
    AgentMismatch,
    CancelRequested,
    CursorExpired,
    RunAlreadyActive,
    RunOver,
    StepSuperseded,
    StoreUnavailable,
    ThreadNotFound,
)
from ..events import Envelope, NewEvent
from . import redis_scripts
from .base import (
    DEFAULT_RETENTION,
    ActiveRun,
    Clock,
    EventStore,
    PurgedThread,
    RunInfo,
    RunStatus,
    StepAttempt,
    StepRecord,
    StepStatus,
    ThreadHead,
    ThreadInfo,
)
from .redis_streams import KEY_PREFIX, UNREACHABLE, envelope_of, events_key
from .redis_watcher import CommitWatcher

if TYPE_CHECKING:
    from ...config import Settings

T = TypeVar("T")

logger = logging.getLogger(__name__)

MAX_CONNECTIONS = 50
_THREAD_KEYS = ("meta", "events", "runs", "steps", "open", "messages", "dedupe", "dedupe_by_seq", "run_ids")
_PURGE_BATCH = 100
# The threads with an active run (a set, never expiring): what the reconciliation sweep walks. Only
# scripts change it, so it never misses a thread whose run is active.
_ACTIVE_KEY = f"{KEY_PREFIX}:active"


class RedisEventStore(EventStore):
    backend = "redis"
    pushes_commits = True

    def __init__(self, url: str, *, retention: float = DEFAULT_RETENTION, clock: Clock = time.time) -> None:
        super().__init__(retention=retention, clock=clock)
        parts = urlsplit(url)
        # Named in errors; the URL itself may carry a password.
        self.location = f"{parts.hostname or '127.0.0.1'}:{parts.port or 6379}"
        self._url = url
        # A bounded pool that makes callers wait for a connection: bursts of readers share it.
        # No client-side retries: a write whose reply was lost must not run twice (see `_guard`).
        pool = redis.asyncio.BlockingConnectionPool.from_url(
            url,
            max_connections=MAX_CONNECTIONS,
            timeout=10,
            decode_responses=True,
            retry=Retry(NoBackoff(), 0),
            socket_connect_timeout=5,
            socket_timeout=10,
        )
        self._redis = redis.asyncio.Redis(connection_pool=pool)
        self._scripts = {
            name: self._redis.register_script(getattr(redis_scripts, name))
            for name in (
                "START_RUN",
                "APPEND",
                "BEGIN_STEP",
                "DISCARD_STEP",
                "COMMIT_STEP",
                "FINISH_RUN",
                "REQUEST_CANCEL",
                "OPEN_STEPS",
                "READ",
                "PURGE_THREAD",
            )
        }
        self._watcher = CommitWatcher(self._watch_connection, self._wake)

    @classmethod
    def from_settings(cls, settings: Settings, *, clock: Clock = time.time) -> RedisEventStore:
        return cls(settings.redis_url, retention=settings.event_retention, clock=clock)

    # -- plumbing ---------------------------------------------------------------------------

    async def _call(self, command: str, *args: Any, **options: Any) -> Any:
        # redis-py's annotations cover sync and async clients at once; the replies are plain values.
        return await getattr(self._redis, command)(*args, **options)

    def _keys(self, thread_id: str) -> list[str]:
        base = f"{KEY_PREFIX}:t:{thread_id}"
        return [f"{base}:{name}" for name in _THREAD_KEYS] + [f"{KEY_PREFIX}:threads", _ACTIVE_KEY]

    async def _guard(self, call: Callable[[], Awaitable[T]], thread_id: str = "", *, idempotent: bool = True) -> T:
        """Run one round trip, mapping the server's refusals and outages to our errors.

        An idempotent call is tried a second time after a connection error: after a server
        restart, a pooled connection fails once before the pool reconnects.
        """
        for attempt in (1, 2):
            try:
                return await call()
            except UNREACHABLE as exc:
                if idempotent and attempt == 1:
                    continue
                raise StoreUnavailable(f"Redis event store at {self.location} failed: {exc}") from exc
            except redis.exceptions.ResponseError as exc:
                refusal = _refusal(str(exc), thread_id)
                if refusal is None:
                    raise
                raise refusal from None
        raise AssertionError("unreachable")

    async def _script(
        self, name: str, thread_id: str, args: Sequence[str | int], *, idempotent: bool = True
    ) -> tuple[float, Any]:
        """Run a thread script with the common arguments in front; returns the clock it used, and its reply."""
        now = self._clock()
        script = self._scripts[name]
        full = [thread_id, repr(now), repr(float(self.retention)), *args]
        reply = await self._guard(
            lambda: script(keys=self._keys(thread_id), args=full), thread_id, idempotent=idempotent
        )
        return now, reply

    def _envelopes(self, first: int, run_id: str, ts: float, events: list[NewEvent]) -> list[Envelope]:
        return [Envelope(first + i, run_id, ts, e.type, e.data) for i, e in enumerate(events)]

    # -- the interface ------------------------------------------------------------------------

    async def ping(self) -> None:
        await self._guard(self._redis.ping, idempotent=True)

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
        args = [run_id, int(create), agent, len(messages), *map(_json, messages), *_flatten(events)]
        try:
            # Not repeated after a lost reply: the second try would find its own run active.
            now, first = await self._script("START_RUN", thread_id, args, idempotent=False)
        except AgentMismatch as exc:
            raise AgentMismatch(thread_id, exc.owner, agent) from None
        return self._committed(thread_id, self._envelopes(int(first), run_id, now, events))

    async def append(
        self,
        thread_id: str,
        run_id: str,
        events: list[NewEvent],
        *,
        key: str | None = None,
        attempt: StepAttempt | None = None,
    ) -> list[Envelope]:
        args = [
            run_id,
            key or "",
            attempt.step_id if attempt else "",
            attempt.attempt if attempt else 0,
            *_flatten(events),
        ]
        # Only a keyed append may be sent twice: its key makes the second one land nothing.
        now, (fresh, value) = await self._script("APPEND", thread_id, args, idempotent=key is not None)
        if fresh:
            envelopes = self._envelopes(int(value), run_id, now, events)
        else:
            envelopes = [_from_pairs(entry_id, fields) for entry_id, fields in value]
        return self._committed(thread_id, envelopes)

    async def read(self, thread_id: str, *, after: int, limit: int = 1000) -> list[Envelope]:
        keys = [self._keys(thread_id)[0], events_key(thread_id)]
        try:
            entries = await self._guard(lambda: self._scripts["READ"](keys=keys, args=[after, limit]), thread_id)
        except CursorExpired as exc:
            raise CursorExpired(thread_id, after, exc.floor) from None
        return [_from_pairs(entry_id, fields) for entry_id, fields in entries]

    async def wait_for_commits(self, thread_id: str, *, after: int, timeout: float) -> list[Envelope]:
        return await self._watcher.wait(thread_id, after, timeout)

    async def head(self, thread_id: str) -> ThreadHead | None:
        last, active, floor, agent = await self._guard(
            lambda: self._call("hmget", self._keys(thread_id)[0], ["last", "active", "floor", "agent"])
        )
        if last is None:
            return None
        return ThreadHead(thread_id, int(last), active or None, int(floor), agent)

    async def get_thread(self, thread_id: str) -> ThreadInfo | None:
        keys = self._keys(thread_id)

        async def query() -> list[Any]:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.hmget(keys[0], ["created", "updated", "last", "active", "agent"])
                pipe.hgetall(keys[2])
                return await pipe.execute()

        (created, updated, last, active, agent), runs = await self._guard(query)
        if last is None:
            return None
        infos = sorted((_run(run_id, raw) for run_id, raw in runs.items()), key=lambda run: run.start_seq)
        return ThreadInfo(thread_id, float(created), float(updated), int(last), active or None, infos, agent)

    async def get_run(self, thread_id: str, run_id: str) -> RunInfo | None:
        raw = await self._guard(lambda: self._call("hget", self._keys(thread_id)[2], run_id))
        return None if raw is None else _run(run_id, raw)

    async def request_cancel(self, thread_id: str, run_id: str) -> RunInfo | None:
        _, raw = await self._script("REQUEST_CANCEL", thread_id, [run_id])
        return None if raw is None else _run(run_id, raw)

    async def get_messages(self, thread_id: str) -> list[dict[str, Any]]:
        raws = await self._guard(lambda: self._call("lrange", self._keys(thread_id)[5], 0, -1))
        return [json.loads(raw) for raw in raws]

    async def get_step(self, thread_id: str, step_id: str) -> StepRecord | None:
        raw = await self._guard(lambda: self._call("hget", self._keys(thread_id)[3], step_id))
        return None if raw is None else _step(step_id, raw)

    async def open_steps(self, thread_id: str, run_id: str) -> list[StepRecord]:
        _, pairs = await self._script("OPEN_STEPS", thread_id, [run_id])
        return [_step(step_id, raw) for step_id, raw in zip(pairs[::2], pairs[1::2], strict=True)]

    async def begin_step(self, thread_id: str, run_id: str, step_id: str, attempt: int) -> StepRecord:
        _, last = await self._script("BEGIN_STEP", thread_id, [run_id, step_id, attempt])
        return StepRecord(step_id, run_id, StepStatus.STARTED, attempt, int(last))

    async def discard_step(
        self, thread_id: str, run_id: str, step_id: str, attempt: int, events: list[NewEvent]
    ) -> list[Envelope]:
        now, first = await self._script("DISCARD_STEP", thread_id, [run_id, step_id, attempt, *_flatten(events)])
        return self._committed(thread_id, self._envelopes(int(first), run_id, now, events) if first else [])

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
        args = [
            run_id,
            step_id,
            "" if attempt is None else attempt,
            json.dumps(result),
            _json(usage) if usage else "",
            len(messages),
            *map(_json, messages),
            *_flatten(events),
        ]
        now, first = await self._script("COMMIT_STEP", thread_id, args)
        return self._committed(thread_id, self._envelopes(int(first), run_id, now, events) if first else [])

    async def finish_run(
        self,
        thread_id: str,
        run_id: str,
        status: RunStatus,
        events: list[NewEvent],
        *,
        error: dict[str, str] | None = None,
    ) -> list[Envelope]:
        args = [run_id, status.value, _json(error) if error else "", *_flatten(events)]
        now, first = await self._script("FINISH_RUN", thread_id, args)
        return self._committed(thread_id, self._envelopes(int(first), run_id, now, events) if first else [])

    async def list_active_runs(self) -> list[ActiveRun]:
        threads: list[str] = sorted(await self._guard(lambda: self._call("smembers", _ACTIVE_KEY)))

        async def query() -> list[str | None]:
            async with self._redis.pipeline(transaction=False) as pipe:
                for thread_id in threads:
                    pipe.hget(self._keys(thread_id)[0], "active")
                return await pipe.execute()

        run_ids = await self._guard(query) if threads else []
        # A member without an active run finished since, or expired whole: the purge removes the latter.
        return [ActiveRun(t, r) for t, r in zip(threads, run_ids, strict=True) if r]

    async def purge_idle_threads(self, idle_before: float) -> list[PurgedThread]:
        index = f"{KEY_PREFIX}:threads"
        purged: list[PurgedThread] = []
        while True:
            idle: list[str] = await self._guard(
                lambda: self._call("zrangebyscore", index, "-inf", f"({idle_before!r}", start=0, num=_PURGE_BATCH)
            )
            for thread_id in idle:
                # The script checks the thread's last write again: one written since is kept.
                reply = await self._script_purge(thread_id, idle_before)
                if reply is not None:
                    purged.append(PurgedThread(thread_id, sorted(reply[1:])))
            if len(idle) < _PURGE_BATCH:
                return purged

    async def _script_purge(self, thread_id: str, idle_before: float) -> list[str] | None:
        script, keys = self._scripts["PURGE_THREAD"], self._keys(thread_id)
        reply: list[str] | None = await self._guard(
            lambda: script(keys=keys, args=[thread_id, repr(idle_before)]), thread_id
        )
        return reply

    async def close(self) -> None:
        await self._watcher.close()
        await self._redis.aclose(close_connection_pool=True)

    # -- for the commit watcher ------------------------------------------------------------------

    def _watch_connection(self, block_seconds: float) -> redis.asyncio.Redis:
        return redis.asyncio.Redis.from_url(
            self._url,
            decode_responses=True,
            single_connection_client=True,
            retry=Retry(NoBackoff(), 0),
            socket_connect_timeout=5,
            socket_timeout=block_seconds + 10,
        )

    async def _wake(self, stream: str) -> None:
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.xadd(stream, {"wake": "1"}, maxlen=10, approximate=False)
            pipe.pexpire(stream, 60_000)
            await pipe.execute()


def _refusal(message: str, thread_id: str) -> Exception | None:
    """Our exception for a script's refusal; None for any other error (a bug, not a condition)."""
    code, _, detail = message.partition(" ")
    if code == "RUN_OVER":
        return RunOver(f"The run is {detail}.")
    if code == "CANCEL_REQUESTED":
        return CancelRequested(f"Run '{detail}' is cancelling: it can only end cancelled.")
    if code == "STEP_SUPERSEDED":
        return StepSuperseded(f"The attempt of step '{detail}' is no longer current.")
    if code == "AGENT_MISMATCH":
        # The script knows the owner; `start_run` knows the agent that asked.
        return AgentMismatch(thread_id, detail, "")
    if code == "RUN_ACTIVE":
        return RunAlreadyActive(thread_id, detail)
    if code == "THREAD_NOT_FOUND":
        return ThreadNotFound(thread_id)
    if code == "CURSOR_EXPIRED":
        return CursorExpired(thread_id, 0, int(detail))
    return None


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def _flatten(events: list[NewEvent]) -> list[str | int]:
    flat: list[str | int] = [len(events)]
    for event in events:
        flat += [event.type, event.data]
    return flat


def _from_pairs(entry_id: str, pairs: list[str]) -> Envelope:
    return envelope_of(entry_id, dict(zip(pairs[::2], pairs[1::2], strict=True)))


def _run(run_id: str, raw: str) -> RunInfo:
    run = json.loads(raw)
    return RunInfo(
        run_id,
        RunStatus(run["status"]),
        float(run["created_at"]),
        float(run["finished_at"]) if "finished_at" in run else None,
        int(run["start_seq"]),
        int(run["end_seq"]) if "end_seq" in run else None,
        dict(run["usage"]),
        json.loads(run["error"]) if "error" in run else None,
        bool(run["cancel_requested"]),
    )


def _step(step_id: str, raw: str) -> StepRecord:
    step = json.loads(raw)
    result = json.loads(step["result"]) if "result" in step else None
    return StepRecord(
        step_id, step["run"], StepStatus(step["status"]), int(step["attempt"]), int(step["start_seq"]), result
    )
