"""A Python client for agentstream: start runs and stream them with automatic, gap-checked resume."""

from __future__ import annotations

from .backoff import Backoff
from .client import DEFAULT_URL, AgentStreamClient
from .errors import (
    APIStatusError,
    AuthenticationError,
    BadRequestError,
    ClientError,
    ConflictError,
    CursorExpiredError,
    DisconnectedError,
    NoOutputError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    ProtocolError,
    RateLimitError,
    ServerError,
    StreamGapError,
    UnsupportedMediaTypeError,
)
from .events import StreamEvent
from .run import Run, RunResult
from .stream import EventStream
from .tools import ClientTool

__all__ = [
    "DEFAULT_URL",
    "APIStatusError",
    "AgentStreamClient",
    "AuthenticationError",
    "Backoff",
    "BadRequestError",
    "ClientError",
    "ClientTool",
    "ConflictError",
    "CursorExpiredError",
    "DisconnectedError",
    "EventStream",
    "NoOutputError",
    "NotFoundError",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "ProtocolError",
    "RateLimitError",
    "Run",
    "RunResult",
    "ServerError",
    "StreamEvent",
    "StreamGapError",
    "UnsupportedMediaTypeError",
]
