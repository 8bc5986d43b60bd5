"""The process-wide parts of the event log: one store and one tail hub per worker process.

HTTP triggers and activities that run in the same process share them, which is what lets a
stream reader see an activity's events the moment they are committed.
"""

from __future__ import annotations

import functools

from .config import get_settings
from .log.stores import EventStore, create_store
from .log.tail import TailHub


@functools.cache
def get_store() -> EventStore:
    return create_store(get_settings())


@functools.cache
def get_hub() -> TailHub:
    return TailHub(get_store())
