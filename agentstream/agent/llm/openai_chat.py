"""Streaming Chat Completions over the `openai` SDK: OpenAI, Azure OpenAI, any compatible server.

Failures follow the rule in `retries`: retried here before anything streamed, raised after.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator
from typing import Any

import openai
from openai.types.chat import ChatCompletionChunk

from .base import (
    Chunk,
    ModelError,
    ModelOptions,
    OutputSchema,
    ReasoningDelta,
    TextDelta,
    ToolCallDelta,
    Usage,
    paired_tool_results,
)
from .retries import ATTEMPTS, Sleep, StreamBroken, stream_with_retries

logger = logging.getLogger(__name__)


class OpenAIChatModel:
    """A ModelClient over `client.chat.completions.create(stream=True)`.

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
    ) -> None:
        self.client = client
        self.model = model
        self.options = options or ModelOptions()
        self.attempts = attempts
        self._sleep = sleep

    def stream(
        self, messages: list[dict[str, Any]], tools: list[dict[str, Any]], *, output: OutputSchema | None = None
    ) -> AsyncGenerator[Chunk, None]:
        request: dict[str, Any] = {
            "model": self.model,
            "messages": to_openai_messages(messages),
            "stream": True,
            "stream_options": {"include_usage": True},
            **self.options.chat_completions_fields(),
        }
        if tools:
            request["tools"] = [{"type": "function", "function": tool} for tool in tools]
        if output is not None:
            request["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": output.name, "schema": output.schema, "strict": True},
            }
        return stream_with_retries(
            lambda: self._attempt(request), attempts=self.attempts, sleep=self._sleep, logger=logger
        )

    async def _attempt(self, request: dict[str, Any]) -> AsyncGenerator[Chunk, None]:
        response = await self.client.chat.completions.create(**request)
        finished = False
        try:
            async for chunk in response:
                finished = finished or any(choice.finish_reason for choice in chunk.choices)
                for item in _chunks_of(chunk):
                    yield item
        finally:
            await response.close()
        if not finished:
            raise StreamBroken("The model's stream ended without a finish reason.")


def to_openai_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """AG-UI messages (camelCase, as the store keeps them) → Chat Completions messages.

    Reasoning is not sent back; tool results are paired with their calls (`paired_tool_results`).
    """
    out: list[dict[str, Any]] = []
    for message in paired_tool_results(messages):
        role = message["role"]
        if role == "tool":
            out.append({"role": "tool", "tool_call_id": message["toolCallId"], "content": message["content"]})
        elif role == "assistant":
            entry: dict[str, Any] = {"role": "assistant", "content": message.get("content")}
            if calls := message.get("toolCalls"):
                entry["tool_calls"] = [
                    {"id": c["id"], "type": "function", "function": dict(c["function"])} for c in calls
                ]
            out.append(entry)
        elif role in ("user", "system"):
            out.append({"role": role, "content": message["content"]})
        elif role == "developer":
            # Older API versions and many compatible servers know only "system".
            out.append({"role": "system", "content": message["content"]})
    return out


def _chunks_of(chunk: ChatCompletionChunk) -> list[Chunk]:
    items: list[Chunk] = []
    for choice in chunk.choices:
        delta = choice.delta
        # Not in the OpenAI schema, but sent by reasoning models on Azure, DeepSeek, vLLM and others.
        reasoning = getattr(delta, "reasoning_content", None) or getattr(delta, "reasoning", None)
        if isinstance(reasoning, str) and reasoning:
            items.append(ReasoningDelta(reasoning))
        if delta.content:
            items.append(TextDelta(delta.content))
        if delta.refusal:
            raise ModelError(f"The model refused to answer: {delta.refusal}", code="refusal", final=True)
        for call in delta.tool_calls or []:
            function = call.function
            items.append(
                ToolCallDelta(
                    call.index,
                    arguments=(function.arguments if function else None) or "",
                    id=call.id,
                    name=function.name if function else None,
                )
            )
        if choice.finish_reason == "content_filter":
            raise ModelError("The model's answer was withheld by a content filter.", code="content_filter", final=True)
    if chunk.usage is not None:
        prompt, completion = chunk.usage.prompt_tokens_details, chunk.usage.completion_tokens_details
        items.append(
            Usage(
                input_tokens=chunk.usage.prompt_tokens,
                output_tokens=chunk.usage.completion_tokens,
                reasoning_tokens=(completion.reasoning_tokens or 0) if completion else 0,
                cached_input_tokens=(prompt.cached_tokens or 0) if prompt else 0,
            )
        )
    return items
