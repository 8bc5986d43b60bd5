"""Model clients behind one streaming interface."""

from __future__ import annotations

from ..config import Settings
from .base import Chunk, ModelClient, ModelError, ReasoningDelta, TextDelta, ToolCallDelta, Usage
from .demo import DemoModel


def create_model(settings: Settings) -> ModelClient:
    return DemoModel(tokens_per_second=settings.demo_tokens_per_second)


__all__ = [
    "Chunk",
    "DemoModel",
    "ModelClient",
    "ModelError",
    "ReasoningDelta",
    "TextDelta",
    "ToolCallDelta",
    "Usage",
    "create_model",
]
