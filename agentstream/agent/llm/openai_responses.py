"""Streaming the Responses API over the `openai` SDK: OpenAI, and Azure OpenAI's v1 endpoint.

Nothing is stored at the provider (`store=False`): the thread is the conversation, sent whole each
call. Reasoning summaries stream as reasoning; a reasoning model's encrypted reasoning (asked for
with the reasoning effort) is kept on the thread's reasoning message and sent back on the next
call, as the API needs for reasoning to carry across tool calls and turns. Failures follow the
rule in `retries`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator
from typing import Any

import openai
from openai.types.responses import ResponseStreamEvent

from .base import (
    ITEM_ID,
    Chunk,
    EncryptedReasoning,
    ModelError,
    ModelOptions,
    OutputSchema,
    ReasoningDelta,
    TextDelta,
    ToolCallDelta,
    Usage,
    paired_tool_results,
)
from .retries import ATTEMPTS, Sleep, StreamBroken, stream_error, stream_with_retries

logger = logging.getLogger(__name__)


class OpenAIResponsesModel:
    """A ModelClient over `client.responses.create(stream=True)`.

    `model` is the model name (for Azure OpenAI, the deployment name).
    """

    def __init__(
        self,
        client: openai.AsyncOpenAI,
        *,
        model: str,
        options: ModelOptions | None = None,
        attempts: int = ATTEMPTS,
        sleep: Sleep = asyncio.sleep,
        extra_headers: dict[str, Any] | None = None,
    ) -> None:
        self.client = client
        self.model = model
        self.options = options or ModelOptions()
        self.attempts = attempts
        self.extra_headers = extra_headers or {}
        self._sleep = sleep

    def stream(
        self, messages: list[dict[str, Any]], tools: list[dict[str, Any]], *, output: OutputSchema | None = None
    ) -> AsyncGenerator[Chunk, None]:
        request: dict[str, Any] = {
            "model": self.model,
            "input": to_responses_input(messages),
            "stream": True,
            "store": False,
            **self.options.responses_fields(),
        }
        if tools:
            request["tools"] = [
                {
                    "type": "function",
                    "name": tool["name"],
                    "description": tool.get("description") or "",
                    "parameters": tool.get("parameters") or {"type": "object", "properties": {}},
                    # Tool schemas allow optional arguments, which strict mode does not.
                    "strict": False,
                }
                for tool in tools
            ]
        if output is not None:
            request["text"] = {
                "format": {"type": "json_schema", "name": output.name, "schema": output.schema, "strict": True}
            }
        if self.extra_headers:
            request["extra_headers"] = self.extra_headers
        return stream_with_retries(
            lambda: self._attempt(request), attempts=self.attempts, sleep=self._sleep, logger=logger
        )

    async def _attempt(self, request: dict[str, Any]) -> AsyncGenerator[Chunk, None]:
        response = await self.client.responses.create(**request)
        finished = False
        try:
            async for event in response:
                for item in _chunks_of(event):
                    yield item
                finished = finished or event.type in ("response.completed", "response.incomplete")
        finally:
            await response.close()
        if not finished:
            raise StreamBroken("The model's stream ended before response.completed.")


def to_responses_input(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """AG-UI messages (camelCase, as the store keeps them) → Responses API input items.

    Reasoning goes back only with its encrypted content: with `store=False` the API cannot look an
    item up by id. Tool results are paired with their calls (`paired_tool_results`).
    """
    out: list[dict[str, Any]] = []
    for message in paired_tool_results(messages):
        role = message["role"]
        if role == "tool":
            out.append({"type": "function_call_output", "call_id": message["toolCallId"], "output": message["content"]})
        elif role == "reasoning":
            item_id = (message.get("metadata") or {}).get(ITEM_ID)
            if message.get("encryptedValue") and item_id:
                content = message.get("content") or ""
                out.append(
                    {
                        "type": "reasoning",
                        "id": item_id,
                        "summary": [{"type": "summary_text", "text": content}] if content else [],
                        "encrypted_content": message["encryptedValue"],
                    }
                )
        elif role == "assistant":
            if message.get("content"):
                out.append({"role": "assistant", "content": message["content"]})
            for call in message.get("toolCalls") or []:
                function = call["function"]
                out.append(
                    {
                        "type": "function_call",
                        "call_id": call["id"],
                        "name": function["name"],
                        "arguments": function["arguments"],
                    }
                )
        elif role in ("user", "system", "developer"):
            out.append({"role": role, "content": message["content"]})
    return out


def _chunks_of(event: ResponseStreamEvent) -> list[Chunk]:
    if event.type == "response.output_text.delta":
        return [TextDelta(event.delta)] if event.delta else []
    if event.type in ("response.reasoning_summary_text.delta", "response.reasoning_text.delta"):
        return [ReasoningDelta(event.delta, event.output_index)] if event.delta else []
    if event.type == "response.reasoning_summary_part.added" and event.summary_index > 0:
        # Parts of a summary are paragraphs: keep them apart in the one reasoning message.
        return [ReasoningDelta("\n\n", event.output_index)]
    if event.type == "response.output_item.added" and event.item.type == "function_call":
        item = event.item
        return [ToolCallDelta(event.output_index, arguments=item.arguments or "", id=item.call_id, name=item.name)]
    if event.type == "response.function_call_arguments.delta":
        return [ToolCallDelta(event.output_index, arguments=event.delta)] if event.delta else []
    if event.type == "response.output_item.done" and event.item.type == "reasoning" and event.item.encrypted_content:
        return [EncryptedReasoning(event.output_index, event.item.id, event.item.encrypted_content)]
    if event.type == "response.refusal.done":
        raise ModelError(f"The model refused to answer: {event.refusal}", code="refusal", final=True)
    if event.type in ("response.completed", "response.incomplete"):
        response = event.response
        details = response.incomplete_details
        if event.type == "response.incomplete" and details is not None and details.reason == "content_filter":
            raise ModelError("The model's answer was withheld by a content filter.", code="content_filter", final=True)
        usage = response.usage
        if usage is None:
            return []
        return [
            Usage(
                input_tokens=usage.input_tokens,
                output_tokens=usage.output_tokens,
                reasoning_tokens=usage.output_tokens_details.reasoning_tokens if usage.output_tokens_details else 0,
                cached_input_tokens=usage.input_tokens_details.cached_tokens if usage.input_tokens_details else 0,
            )
        ]
    if event.type == "response.failed":
        error = event.response.error
        raise stream_error(error.code if error else None, error.message if error else "the response failed")
    if event.type == "error":
        raise stream_error(event.code, event.message)
    return []
