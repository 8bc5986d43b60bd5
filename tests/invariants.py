"""An invariant checker that walks a whole event store, every thread of it, through the store API.

Used after devhost was killed and restarted: whatever the crash interrupted, the store must hold
contiguous ids, exactly one terminal event per run that is over (none for a running one), a
MESSAGES_SNAPSHOT just before it, at most one active run per thread, and no output twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
from collections import Counter
from typing import Any

import redis

from agentstream.log.stores import EventStore, RunStatus
from tests.checks import TERMINAL, assistant_texts, discarded_ids, text_by_message
from tests.harness import StreamEvent
from tests.stores.backends import Backend


def thread_ids(backend: Backend, env: dict[str, str]) -> list[str]:
    """Every thread in the store, read under the store API (which has no listing of threads)."""
    if env["EVENT_STORE"] == "sqlite":
        with contextlib.closing(sqlite3.connect(env["EVENT_STORE_PATH"])) as con:
            return [row[0] for row in con.execute("SELECT thread_id FROM threads ORDER BY thread_id")]
    if env["EVENT_STORE"] == "redis":
        with redis.Redis.from_url(env["REDIS_URL"], decode_responses=True) as client:
            return sorted(client.zrange("{agentstream}:threads", 0, -1))
    raise AssertionError(f"no thread listing for {backend.name}")


def check_store(backend: Backend, env: dict[str, str]) -> dict[str, int]:
    """Assert the invariants on every thread; returns counts of what was checked."""

    async def main() -> dict[str, int]:
        store = backend.open_store(env)
        try:
            counts: Counter[str] = Counter()
            for thread_id in thread_ids(backend, env):
                for status in await check_thread(store, thread_id):
                    counts[status] += 1
                counts["threads"] += 1
            return dict(counts)
        finally:
            await store.close()

    return asyncio.run(main())


async def check_thread(store: EventStore, thread_id: str) -> list[str]:
    thread = await store.get_thread(thread_id)
    assert thread is not None, thread_id
    envelopes = []
    while batch := await store.read(thread_id, after=len(envelopes), limit=1000):
        envelopes += batch
    where = f"thread {thread_id}"
    assert [e.seq for e in envelopes] == list(range(1, thread.last_seq + 1)), f"{where}: ids not contiguous"
    events = [StreamEvent(e.seq, json.loads(e.data)) for e in envelopes]
    running = [run.run_id for run in thread.runs if run.status is RunStatus.RUNNING]
    assert running == ([thread.active_run_id] if thread.active_run_id else []), (where, running, thread.active_run_id)
    for run in thread.runs:
        own = [event for event, envelope in zip(events, envelopes, strict=True) if envelope.run_id == run.run_id]
        types = [e.type for e in own]
        assert own and own[0].type == "RUN_STARTED" and own[0].id == run.start_seq, (where, run.run_id, types[:3])
        assert types.count("RUN_STARTED") == 1, (where, run.run_id, types)
        terminal = [e for e in own if e.type in TERMINAL]
        if run.status is RunStatus.RUNNING:
            assert terminal == [], (where, run.run_id, "a running run has a terminal event")
            continue
        assert len(terminal) == 1, (where, run.run_id, types)
        assert own[-1] is terminal[0] and terminal[0].id == run.end_seq, (where, run.run_id, types[-3:])
        assert own[-2].type == "MESSAGES_SNAPSHOT", (where, run.run_id, types[-3:])
        if run.status is RunStatus.CANCELLED:
            assert terminal[0].type == "RUN_FINISHED" and terminal[0].body["outcome"] == {"type": "cancelled"}
        elif run.status is RunStatus.FAILED:
            assert terminal[0].type == "RUN_ERROR" and terminal[0].body["code"] == run.error["code"]  # type: ignore[index]
    messages = await store.get_messages(thread_id)
    _check_no_duplicated_output(where, events, messages)
    return [f"{run.status.value} {run.error['code']}" if run.error else run.status.value for run in thread.runs]


def _check_no_duplicated_output(where: str, events: list[StreamEvent], messages: list[dict[str, Any]]) -> None:
    ids = [m["id"] for m in messages]
    assert len(ids) == len(set(ids)), (where, "a message twice", ids)
    answered = [m["toolCallId"] for m in messages if m["role"] == "tool"]
    assert len(answered) == len(set(answered)), (where, "a tool call answered twice", answered)
    dropped = discarded_ids(events)
    results = [e.body["toolCallId"] for e in events if e.type == "TOOL_CALL_RESULT"]
    results = [call_id for call_id in results if call_id not in dropped]
    assert len(results) == len(set(results)), (where, "a tool result streamed twice", results)
    # Every committed assistant text was streamed exactly once, outside discarded attempts.
    assert text_by_message(events) == assistant_texts(messages), where
