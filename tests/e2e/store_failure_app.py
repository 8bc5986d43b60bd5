"""The function app with an event store that refuses to begin model steps, as a locked SQLite file would:
every model step's activity fails with StoreUnavailable (its message naming the file), while the rest of the
store works, so the run can still write its terminal event."""

from __future__ import annotations

from typing import Any

from agentstream import runtime
from agentstream.config import get_settings
from agentstream.exceptions import StoreUnavailable
from agentstream.log.stores import EventStore
from function_app import app

__all__ = ["app"]


class _ModelStepsLocked:
    def __init__(self, store: EventStore) -> None:
        self._store = store

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    async def begin_step(self, thread_id: str, run_id: str, step_id: str, attempt: int) -> Any:
        raise StoreUnavailable(f"database is locked: {get_settings().event_store_path.resolve()}")


_store = _ModelStepsLocked(runtime.get_store())
runtime.get_store = lambda: _store  # type: ignore[assignment, return-value]
