"""What a model client streams, whatever the provider."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class TextDelta:
    text: str


@dataclass(frozen=True, slots=True)
class ReasoningDelta:
    """A piece of the model's reasoning (or of its summary); `index` ties the pieces of one reasoning item
    together when a turn has several."""

    text: str
    index: int = 0


#: Where a reasoning message keeps the provider's id of its encrypted reasoning item (in its `metadata`).
ITEM_ID = "providerItemId"


@dataclass(frozen=True, slots=True)
class EncryptedReasoning:
    """A reasoning item as the provider encrypted it, to send back on the next call; never shown as text.

    `item_id` is the provider's id of the item, which it needs along with the value.
    """

    index: int
    item_id: str
    value: str


@dataclass(frozen=True, slots=True)
class ToolCallDelta:
    """A piece of one tool call; `index` ties the pieces of a call together, as in OpenAI's wire format."""

    index: int
    arguments: str = ""
    id: str | None = None
    name: str | None = None


@dataclass(frozen=True, slots=True)
class Usage:
    """Tokens of one model call. `reasoning_tokens` are part of `output_tokens`, `cached_input_tokens`
    part of `input_tokens`."""

    input_tokens: int
    output_tokens: int
    reasoning_tokens: int = 0
    cached_input_tokens: int = 0


Chunk = TextDelta | ReasoningDelta | EncryptedReasoning | ToolCallDelta | Usage


@dataclass(frozen=True, slots=True)
class OutputSchema:
    """The JSON schema the model's final answer must follow (an agent's `output_type`)."""

    name: str
    schema: dict[str, Any]


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

    def responses_fields(self) -> dict[str, Any]:
        fields: dict[str, Any] = {}
        if self.temperature is not None:
            fields["temperature"] = self.temperature
        if self.max_output_tokens is not None:
            fields["max_output_tokens"] = self.max_output_tokens
        if self.reasoning_effort is not None:
            # Only reasoning models take these (others refuse encrypted reasoning), so they follow the effort.
            fields["reasoning"] = {"effort": self.reasoning_effort, "summary": "auto"}
            fields["include"] = ["reasoning.encrypted_content"]
        return fields


class ModelClient(Protocol):
    def stream(
        self, messages: list[dict[str, Any]], tools: list[dict[str, Any]], *, output: OutputSchema | None = None
    ) -> AsyncGenerator[Chunk, None]:
        """Stream one assistant turn for a conversation of AG-UI messages (camelCase dicts).

        With `output`, the model's final answer (a turn without tool calls) is JSON following it.
        It is only passed when an agent has an `output_type`, so a client that never serves one
        may leave the parameter out.
        """
        ...


UNANSWERED = "No result: this tool call was not answered."


def paired_tool_results(messages: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """AG-UI messages with every tool call's result right after the calls, as model APIs require.

    A result that answers no pending call is dropped; a call left without a result (a client-side
    call that timed out, say) gets an UNANSWERED one, since the APIs refuse a call with no answer.
    """
    waiting: list[str] = []
    for message in messages:
        if message["role"] == "tool":
            if message["toolCallId"] in waiting:
                waiting.remove(message["toolCallId"])
                yield message
            continue
        yield from ({"role": "tool", "toolCallId": call_id, "content": UNANSWERED} for call_id in waiting)
        waiting.clear()
        yield message
        if message["role"] == "assistant":
            waiting.extend(call["id"] for call in message.get("toolCalls") or ())
    yield from ({"role": "tool", "toolCallId": call_id, "content": UNANSWERED} for call_id in waiting)
