"""The process-wide parts: one store, one tail hub, one model client per worker process.

HTTP triggers and activities that run in the same process share them, which is what lets a
stream reader see an activity's events the moment they are committed.
"""

from __future__ import annotations

import asyncio
import functools

from .config import get_settings
from .http.slots import StreamSlots
from .llm import ModelClient, create_model
from .stores import EventStore, create_store
from .tail import TailHub
from .tools import BUILTIN_TOOLS, ToolRegistry


@functools.cache
def get_store() -> EventStore:
    return create_store(get_settings())


@functools.cache
def get_hub() -> TailHub:
    return TailHub(get_store())


_model: ModelClient | None = None


async def get_model() -> ModelClient:
    """The model client, made on first use in a worker thread: loading the `openai` SDK takes a
    second or two, which must not stall the event loop that serves streams."""
    global _model
    if _model is None:
        # Two first calls at once may both build one; either is fine to keep.
        _model = await asyncio.to_thread(create_model, get_settings())
    return _model


@functools.cache
def get_stream_slots() -> StreamSlots:
    return StreamSlots()


def get_tools() -> ToolRegistry:
    return BUILTIN_TOOLS
