"""What a model client streams, whatever the provider."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class TextDelta:
    text: str


@dataclass(frozen=True, slots=True)
class ReasoningDelta:
    text: str


@dataclass(frozen=True, slots=True)
class ToolCallDelta:
    """A piece of one tool call; `index` ties the pieces of a call together, as in OpenAI's wire format."""

    index: int
    arguments: str = ""
    id: str | None = None
    name: str | None = None


@dataclass(frozen=True, slots=True)
class Usage:
    input_tokens: int
    output_tokens: int


Chunk = TextDelta | ReasoningDelta | ToolCallDelta | Usage


class ModelError(Exception):
    """The model call failed; `code` ends up in the run's RUN_ERROR."""

    code = "model_error"


class ModelClient(Protocol):
    def stream(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> AsyncIterator[Chunk]:
        """Stream one assistant turn for a conversation of AG-UI messages (camelCase dicts)."""
        ...
