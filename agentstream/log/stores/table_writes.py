"""The optimistic write loop of the Table store: one entity-group transaction per write.

A write replaces the thread's head row with If-Match on the ETag it read, so writes to a thread are
serialized optimistically: a writer that lost the race gets 412 (or 409 when it tried to create a
row someone else created), reads again and retries. Writers in this process take turns per thread
first; the ETag only has to settle races between hosts.
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

from azure.data.tables.aio import TableClient

from ...exceptions import AgentStreamError, StoreUnavailable
from .table_heads import HeadCache
from .table_layout import check_id
from .table_session import TableSession
from .table_transaction import CachedHead, Transaction, lost_race

T = TypeVar("T")

# How long a write keeps retrying lost races before it reports the store as unavailable.
CONTENTION_SECONDS = 30.0


@dataclass(slots=True)
class _Turn:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    users: int = 0


class WriteLoop:
    def __init__(
        self, session: TableSession, heads: HeadCache, before_submit: Callable[[Transaction], Awaitable[None]]
    ) -> None:
        """`before_submit` adds to a transaction that appends events (the store trims for retention)."""
        self._session = session
        self._heads = heads
        self._before_submit = before_submit
        # A lock belongs to one event loop: the turns are the running loop's.
        self._loop: asyncio.AbstractEventLoop | None = None
        self._turns: dict[str, _Turn] = {}

    async def write(self, thread_id: str, plan: Callable[[Transaction], Awaitable[T]]) -> T:
        """Run `plan` on a transaction of the thread and submit it, again on a fresh read until it lands."""
        check_id(thread_id, "thread id")
        table = await self._session.events()
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            self._loop, self._turns = loop, {}
        turns = self._turns
        turn = turns.setdefault(thread_id, _Turn())
        turn.users += 1
        try:
            async with turn.lock:
                return await self._write_in_turn(table, thread_id, plan)
        finally:
            turn.users -= 1
            if turn.users == 0:
                del turns[thread_id]

    async def _write_in_turn(
        self, table: TableClient, thread_id: str, plan: Callable[[Transaction], Awaitable[T]]
    ) -> T:
        reaching = self._session.reaching
        deadline = time.monotonic() + CONTENTION_SECONDS
        delay = 0.005
        cached = self._heads.get(thread_id)
        while True:
            tx = Transaction(table, thread_id, cached)
            try:
                with reaching():
                    result = await plan(tx)
            except AgentStreamError as exc:
                if cached is None or isinstance(exc, StoreUnavailable):
                    raise
                cached = None  # decided on what this process last saw: decide again on a fresh read
                continue
            if not tx.ops and tx.next is None:
                return result
            if tx.appended:
                with reaching():
                    await self._before_submit(tx)
            try:
                with reaching():
                    responses = await table.submit_transaction(tx.operations())
            except StoreUnavailable as exc:
                self._heads.forget(thread_id)  # the outcome is unknown
                if not lost_race(exc.__cause__):
                    raise
                if time.monotonic() > deadline:
                    raise StoreUnavailable(
                        f"Writes to thread '{thread_id}' kept conflicting for {CONTENTION_SECONDS:g} s."
                    ) from exc
                if cached is None:
                    await asyncio.sleep(random.uniform(0, delay))
                    delay = min(delay * 2, 0.2)
                cached = None
                continue
            assert tx.next is not None
            head = dataclasses.replace(tx.next, etag=responses[0]["etag"])
            self._heads.put(thread_id, CachedHead(head, tx.verified))
            return result
