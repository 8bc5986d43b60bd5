"""The process-wide parts: one store, one tail hub, one model client per worker process.

HTTP triggers and activities that run in the same process share them, which is what lets a
stream reader see an activity's events the moment they are committed.
"""

from __future__ import annotations

import functools

from .config import Settings, get_settings
from .llm import ModelClient, create_model
from .stores.base import EventStore
from .stores.sqlite import SQLiteEventStore
from .tail import TailHub
from .tools import BUILTIN_TOOLS, ToolRegistry


def create_store(settings: Settings) -> EventStore:
    if settings.event_store == "table":
        from .stores.table import TableEventStore
        from .stores.table_connection import TableAccount

        return TableEventStore(TableAccount.from_settings(settings), prefix=settings.event_table_prefix)
    return SQLiteEventStore(settings.event_store_path)


@functools.cache
def get_store() -> EventStore:
    return create_store(get_settings())


@functools.cache
def get_hub() -> TailHub:
    return TailHub(get_store())


@functools.cache
def get_model() -> ModelClient:
    return create_model(get_settings())


def get_tools() -> ToolRegistry:
    return BUILTIN_TOOLS
