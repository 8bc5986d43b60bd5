"""A Python client for agentstream, sync and async: start runs and stream them with automatic, gap-checked resume."""

from __future__ import annotations

from ._base_client import DEFAULT_URL
from ._base_run import RunResult
from .async_client import AsyncAgentStreamClient
from .async_run import AsyncRun
from .async_stream import AsyncEventStream
from .backoff import Backoff
from .client import AgentStreamClient
from .errors import (
    APIStatusError,
    AuthenticationError,
    BadRequestError,
    ClientError,
    ConflictError,
    CursorExpiredError,
    DisconnectedError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    ProtocolError,
    RateLimitError,
    RunFailedError,
    ServerError,
    StreamGapError,
    UnsupportedMediaTypeError,
)
from .events import StreamEvent
from .interrupts import Interrupt
from .run import Run
from .stream import EventStream
from .tools import ClientTool

__all__ = [
    "DEFAULT_URL",
    "APIStatusError",
    "AgentStreamClient",
    "AsyncAgentStreamClient",
    "AsyncEventStream",
    "AsyncRun",
    "AuthenticationError",
    "Backoff",
    "BadRequestError",
    "ClientError",
    "ClientTool",
    "ConflictError",
    "CursorExpiredError",
    "DisconnectedError",
    "EventStream",
    "Interrupt",
    "NotFoundError",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "ProtocolError",
    "RateLimitError",
    "Run",
    "RunFailedError",
    "RunResult",
    "ServerError",
    "StreamEvent",
    "StreamGapError",
    "UnsupportedMediaTypeError",
]
