"""Streaming Chat Completions over the `openai` SDK: OpenAI, Azure OpenAI, any compatible server.

Retries are ours, not the SDK's (it is built with `max_retries=0`), so they follow one rule: a
call that failed before anything was streamed (429, honouring `retry-after`; 5xx; a timeout; a
refused connection) is tried again here with backoff. Once a delta went out, a failure is raised
instead: the step closes and discards what it streamed and is redone as a whole. Errors that no
retry can fix (a content filter, a request the API refuses) are final and end the run.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import time
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Any

import httpx
import openai
from openai.types.chat import ChatCompletionChunk

from .base import Chunk, ModelError, ModelOptions, ReasoningDelta, TextDelta, ToolCallDelta, Usage

logger = logging.getLogger(__name__)

ATTEMPTS = 3
BACKOFF_SECONDS = 0.5
MAX_BACKOFF_SECONDS = 8.0
MAX_RETRY_AFTER_SECONDS = 60.0
UNANSWERED = "No result: this tool call was not answered."

Sleep = Callable[[float], Awaitable[None]]


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

    async def stream(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> AsyncGenerator[Chunk, None]:
        request: dict[str, Any] = {
            "model": self.model,
            "messages": to_openai_messages(messages),
            "stream": True,
            "stream_options": {"include_usage": True},
            **self.options.chat_completions_fields(),
        }
        if tools:
            request["tools"] = [{"type": "function", "function": tool} for tool in tools]
        for attempt in range(1, self.attempts + 1):
            streamed = False
            try:
                response = await self.client.chat.completions.create(**request)
                finished = False
                try:
                    async for chunk in response:
                        finished = finished or any(choice.finish_reason for choice in chunk.choices)
                        for item in _chunks_of(chunk):
                            streamed = True
                            yield item
                finally:
                    await response.close()
                if not finished:
                    raise _StreamBroken("The model's stream ended without a finish reason.")
                return
            except openai.APIStatusError as exc:
                error, delay = _status_error(exc), _retry_after(exc)
            # The SDK wraps transport errors of the request, but (since openai 2) not those of reading the stream.
            except (openai.APITimeoutError, httpx.TimeoutException) as exc:
                error, delay = ModelError(f"The model did not answer in time: {exc}", code="model_timeout"), None
            except (openai.APIConnectionError, httpx.TransportError, _StreamBroken) as exc:
                error, delay = ModelError(f"The model connection failed: {exc}", code="model_unavailable"), None
            if streamed or error.final or attempt == self.attempts:
                raise error
            wait = min(BACKOFF_SECONDS * 2 ** (attempt - 1), MAX_BACKOFF_SECONDS) if delay is None else delay
            logger.warning(
                "Model call failed before streaming (%s, attempt %d of %d); retrying in %.2f s: %s",
                error.code,
                attempt,
                self.attempts,
                wait,
                error,
            )
            await self._sleep(wait)


def to_openai_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """AG-UI messages (camelCase, as the store keeps them) → Chat Completions messages.

    Reasoning is not sent back. A tool call left without a result (a client-side call that timed
    out, say) gets a placeholder result, since the API refuses a call with no answer.
    """
    out: list[dict[str, Any]] = []
    waiting: list[str] = []

    def close_unanswered() -> None:
        out.extend({"role": "tool", "tool_call_id": call_id, "content": UNANSWERED} for call_id in waiting)
        waiting.clear()

    for message in messages:
        role = message["role"]
        if role == "tool":
            if message["toolCallId"] in waiting:
                waiting.remove(message["toolCallId"])
                out.append({"role": "tool", "tool_call_id": message["toolCallId"], "content": message["content"]})
            continue
        close_unanswered()
        if role == "assistant":
            entry: dict[str, Any] = {"role": "assistant", "content": message.get("content")}
            if calls := message.get("toolCalls"):
                entry["tool_calls"] = [
                    {"id": c["id"], "type": "function", "function": dict(c["function"])} for c in calls
                ]
                waiting.extend(c["id"] for c in calls)
            out.append(entry)
        elif role in ("user", "system"):
            out.append({"role": role, "content": message["content"]})
        elif role == "developer":
            # Older API versions and many compatible servers know only "system".
            out.append({"role": "system", "content": message["content"]})
    close_unanswered()
    return out


class _StreamBroken(Exception):
    """The response stream ended before the model finished (a proxy closed it cleanly, say)."""


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
        items.append(Usage(input_tokens=chunk.usage.prompt_tokens, output_tokens=chunk.usage.completion_tokens))
    return items


def _status_error(exc: openai.APIStatusError) -> ModelError:
    detail = f"{exc.status_code} from the model API: {exc.message}"
    if exc.code == "content_filter" or _inner_code(exc.body) == "ResponsibleAIPolicyViolation":
        return ModelError(f"The request was refused by a content filter ({detail}).", code="content_filter", final=True)
    if exc.status_code == 429:
        return ModelError(f"Rate limited: {detail}", code="rate_limited")
    if exc.status_code >= 500 or exc.status_code in (408, 409):
        return ModelError(f"The model API failed: {detail}", code="model_unavailable")
    return ModelError(f"The model API refused the request: {detail}", final=True)


def _inner_code(body: object) -> str | None:
    if isinstance(body, dict):
        inner = body.get("innererror")
        if isinstance(inner, dict) and isinstance(inner.get("code"), str):
            return str(inner["code"])
    return None


def _retry_after(exc: openai.APIStatusError) -> float | None:
    """The wait the server asked for: `retry-after-ms`, then `retry-after` (seconds or an HTTP date)."""
    headers = exc.response.headers
    seconds: float | None = None
    try:
        if (ms := headers.get("retry-after-ms")) is not None:
            seconds = float(ms) / 1000
        elif (value := headers.get("retry-after")) is not None:
            try:
                seconds = float(value)
            except ValueError:
                when = email.utils.parsedate_to_datetime(value)
                seconds = when.timestamp() - time.time()
    except (ValueError, TypeError):
        return None
    if seconds is None:
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_SECONDS)
