"""Counters on the process's event store, read by the bench over HTTP.

Every EventStore read and write method is wrapped to count its calls. A backend probe also
counts the backend round trips an `append` makes (SQLite: jobs handed to its worker thread;
Redis: commands or pipelines sent; Table: HTTP requests), which is what "store writes per flush"
measures: the writer flushes each batch with one `append`, so round trips per append is round
trips per flush.
"""

from __future__ import annotations

import contextvars
import functools
import os
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from agentstream.log.stores.base import EventStore

READ_METHODS = (
    "read",
    "wait_for_commits",
    "head",
    "get_thread",
    "get_run",
    "get_messages",
    "get_step",
    "open_steps",
)
WRITE_METHODS = ("start_run", "append", "begin_step", "discard_step", "commit_step", "finish_run", "request_cancel")

_in_append: contextvars.ContextVar[bool] = contextvars.ContextVar("bench_in_append", default=False)


class StoreCounters:
    def __init__(self, store: EventStore) -> None:
        self.backend = store.backend
        self.calls: Counter[str] = Counter()
        # Round trips made inside `append`, by kind: "write" (changes data) or "read".
        self.append_round_trips: Counter[str] | None = None
        for name in READ_METHODS + WRITE_METHODS:
            if hasattr(store, name):
                setattr(store, name, self._counted(name, getattr(store, name)))
        probe = _PROBES.get(store.backend)
        if probe is not None:
            self.append_round_trips = Counter()
            probe(store, self._round_trip)

    def _counted(self, name: str, method: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        @functools.wraps(method)
        async def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls[name] += 1
            if name != "append":
                return await method(*args, **kwargs)
            token = _in_append.set(True)
            try:
                return await method(*args, **kwargs)
            finally:
                _in_append.reset(token)

        return counted

    def _round_trip(self, kind: str) -> None:
        if _in_append.get() and self.append_round_trips is not None:
            self.append_round_trips[kind] += 1

    def snapshot(self) -> dict[str, Any]:
        return {
            "backend": self.backend,
            "time": time.monotonic(),
            "reads": sum(self.calls[name] for name in READ_METHODS),
            "writes": sum(self.calls[name] for name in WRITE_METHODS),
            "appends": self.calls["append"],
            "append_round_trips": None if self.append_round_trips is None else dict(self.append_round_trips),
            "calls": dict(self.calls),
            "rss_kib": rss_kib(),
        }


def _probe_sqlite(store: Any, count: Callable[[str], None]) -> None:
    # Each `_run` is one job handed to the SQLite worker thread; inside `append` it is the write
    # transaction.
    run = store._run

    @functools.wraps(run)
    async def counted(fn: Any) -> Any:
        count("write")
        return await run(fn)

    store._run = counted


def _probe_redis(store: Any, count: Callable[[str], None]) -> None:
    # redis-py sends one packed buffer per command, and one per pipeline or transaction; inside
    # `append` that is the script that appends.
    from redis.asyncio.connection import AbstractConnection

    method = AbstractConnection.send_packed_command

    @functools.wraps(method)
    async def counted(*args: Any, **kwargs: Any) -> Any:
        count("write")
        return await method(*args, **kwargs)

    AbstractConnection.send_packed_command = counted  # type: ignore[method-assign]


def _probe_table(store: Any, count: Callable[[str], None]) -> None:
    # Every Table service request, single or batch transaction, is one HTTP request; GETs read.
    from azure.core.pipeline.transport import AioHttpTransport

    method = AioHttpTransport.send

    @functools.wraps(method)
    async def counted(transport: Any, request: Any, **kwargs: Any) -> Any:
        count("read" if request.method == "GET" else "write")
        return await method(transport, request, **kwargs)

    AioHttpTransport.send = counted  # type: ignore[method-assign]


_PROBES: dict[str, Callable[[Any, Callable[[str], None]], None]] = {
    "sqlite": _probe_sqlite,
    "redis": _probe_redis,
    "table": _probe_table,
}


def rss_kib(pid: int | str = "self") -> int:
    """Resident set size of a process, from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS in /proc/{pid}/status")


def cpu_seconds(pid: int | str = "self") -> float:
    """User plus system CPU time of a process so far, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
