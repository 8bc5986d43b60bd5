"""Batched appends of a step's events.

The first event is written at once; events produced while a write is in flight are coalesced and
written together when it returns. So a fast model costs one store round trip per flush, never one
per token, and a slow one still shows each token without waiting for a timer.
"""

from __future__ import annotations

import asyncio

from .events import NewEvent
from .stores.base import EventStore, StepAttempt


class EventWriter:
    def __init__(
        self, store: EventStore, thread_id: str, run_id: str, *, key: str, attempt: StepAttempt | None = None
    ) -> None:
        self._store = store
        self._attempt = attempt
        self._thread_id = thread_id
        self._run_id = run_id
        self._key = key
        self._buffer: list[NewEvent] = []
        self._flight: asyncio.Task[None] | None = None
        self._closing = False
        self.flushes = 0

    def emit(self, event: NewEvent) -> None:
        if self._flight is not None and self._flight.done():
            # Surface a failed write to the producer instead of buffering forever.
            self._flight.result()
        self._buffer.append(event)
        if self._flight is None or self._flight.done():
            # Take the batch now, not when the task first runs, so the first event goes out alone.
            batch, self._buffer = self._buffer, []
            self._flight = asyncio.create_task(self._pump(batch))

    async def _pump(self, batch: list[NewEvent]) -> None:
        while batch:
            # A key per flush makes a retried write of the same batch land once.
            await self._store.append(
                self._thread_id, self._run_id, batch, key=f"{self._key}:{self.flushes}", attempt=self._attempt
            )
            self.flushes += 1
            if self._closing:
                return
            batch, self._buffer = self._buffer, []

    async def abandon(self) -> list[NewEvent]:
        """Stop after the write in flight, whatever its outcome, and hand back what was never attempted."""
        self._closing = True
        if self._flight is not None:
            await asyncio.wait([self._flight])
            if not self._flight.cancelled():
                self._flight.exception()  # retrieved here; the caller already handles the failure
        remaining, self._buffer = self._buffer, []
        return remaining

    async def close(self) -> list[NewEvent]:
        """Wait for the write in flight and hand back what is still unwritten, for the commit."""
        self._closing = True
        if self._flight is not None:
            await self._flight
        remaining, self._buffer = self._buffer, []
        return remaining
