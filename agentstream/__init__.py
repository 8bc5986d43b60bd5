"""agentstream: reliable, resumable streaming for LLM agents on Azure Functions."""

from __future__ import annotations

from .events import Envelope, NewEvent
from .exceptions import AgentStreamError, APIError, ConfigError, StoreUnavailable

__all__ = ["APIError", "AgentStreamError", "ConfigError", "Envelope", "NewEvent", "StoreUnavailable"]
