"""What a model client streams, whatever the provider."""

from __future__ import annotations

from collections.abc import AsyncGenerator
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
    """The model call failed; `code` ends up in the run's RUN_ERROR.

    A `final` error (a content filter, a request the API refuses) ends the run at once; any other
    is worth another attempt of the step.
    """

    code = "model_error"

    def __init__(self, message: str, *, code: str | None = None, final: bool = False) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code
        self.final = final


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelOptions:
    """Sampling options of a model; unset ones are left to the model's defaults."""

    temperature: float | None = None
    max_output_tokens: int | None = None
    #: For reasoning models: "minimal", "low", "medium" or "high".
    reasoning_effort: str | None = None

    def chat_completions_fields(self) -> dict[str, Any]:
        fields: dict[str, Any] = {}
        if self.temperature is not None:
            fields["temperature"] = self.temperature
        if self.max_output_tokens is not None:
            fields["max_completion_tokens"] = self.max_output_tokens
        if self.reasoning_effort is not None:
            fields["reasoning_effort"] = self.reasoning_effort
        return fields


class ModelClient(Protocol):
    def stream(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> AsyncGenerator[Chunk, None]:
        """Stream one assistant turn for a conversation of AG-UI messages (camelCase dicts)."""
        ...
