"""Event store backends behind one interface, chosen by the `EVENT_STORE` setting."""

from __future__ import annotations

import importlib
import time
from typing import TYPE_CHECKING

from .base import (
    Clock,
    EventStore,
    PurgedThread,
    RunInfo,
    RunStatus,
    StepRecord,
    StepStatus,
    ThreadHead,
    ThreadInfo,
)

if TYPE_CHECKING:
    from ...config import Settings

#: `EVENT_STORE` value -> the backend class, imported only when chosen.
BACKENDS: dict[str, str] = {
    "sqlite": "agentstream.log.stores.sqlite:SQLiteEventStore",
    "redis": "agentstream.log.stores.redis:RedisEventStore",
    "table": "agentstream.log.stores.table:TableEventStore",
}


def create_store(settings: Settings, *, clock: Clock = time.time) -> EventStore:
    module, name = BACKENDS[settings.event_store].split(":")
    backend: type[EventStore] = getattr(importlib.import_module(module), name)
    return backend.from_settings(settings, clock=clock)


__all__ = [
    "BACKENDS",
    "EventStore",
    "PurgedThread",
    "RunInfo",
    "RunStatus",
    "StepRecord",
    "StepStatus",
    "ThreadHead",
    "ThreadInfo",
    "create_store",
]
