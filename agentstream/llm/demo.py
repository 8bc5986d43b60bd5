"""The offline demo model: deterministic, paced like a real one, and able to call tools.

What it does with the last user message:
- mentions of "weather" and/or "time" → calls get_weather / get_time (both at once when both appear),
  then answers from the results in a second turn;
- "calculate <expression>" → calls the calculator;
- `[fail:model]` → streams a few tokens, then fails (to try error handling and retries);
- `[fail:tool]` → asks the calculator to divide by zero, which fails the tool step;
- anything else → a fixed-length reply that quotes the message.
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import time
from collections.abc import AsyncIterator
from typing import Any

from .base import Chunk, ModelError, TextDelta, ToolCallDelta, Usage

_REPLY = (
    "This answer comes from agentstream's offline demo model. Every token you see was appended to the "
    "thread's event log before it reached you, so you can close this page, reconnect with the last event "
    "id, and pick up exactly where you left off, with nothing lost and nothing repeated."
)
_WORDS = re.compile(r"\S+\s*")
_CITY = re.compile(r"\b(?:in|for|at)\s+([A-Z][\w'-]*(?:\s+[A-Z][\w'-]*)*)")
_CALCULATION = re.compile(r"calculate\s+([-+*/().\d\s]+)", re.IGNORECASE)


class DemoModelError(ModelError):
    code = "model_error"


class DemoModel:
    def __init__(self, *, tokens_per_second: float) -> None:
        self.tokens_per_second = tokens_per_second

    async def stream(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> AsyncIterator[Chunk]:
        pace = _Pace(self.tokens_per_second)
        prompt_tokens = sum(len(_WORDS.findall(str(m.get("content") or ""))) for m in messages)
        last = messages[-1] if messages else {"role": "user", "content": ""}
        calls: list[tuple[str, str, dict[str, Any]]] = []
        if last.get("role") == "tool":
            text = _answer_from_results(messages)
        else:
            text, calls = _plan(str(last.get("content") or ""), {t["name"] for t in tools})
        output_tokens = 0
        fail_after = 3 if "[fail:model]" in str(last.get("content") or "") else None
        for word in _WORDS.findall(text):
            if output_tokens == fail_after:
                raise DemoModelError("The demo model failed on purpose ([fail:model] in the message).")
            await pace.next()
            yield TextDelta(word)
            output_tokens += 1
        for index, (call_id, name, arguments) in enumerate(calls):
            encoded = json.dumps(arguments)
            cut = len(encoded) // 2
            await pace.next()
            yield ToolCallDelta(index, id=call_id, name=name)
            for piece in (encoded[:cut], encoded[cut:]):
                await pace.next()
                yield ToolCallDelta(index, arguments=piece)
                output_tokens += 1
        yield Usage(input_tokens=prompt_tokens, output_tokens=output_tokens)


class _Pace:
    """Sleeps to a schedule rather than a fixed delay per token, so timer lag does not accumulate."""

    def __init__(self, tokens_per_second: float) -> None:
        self._interval = 1 / tokens_per_second if tokens_per_second > 0 else 0.0
        self._start = time.monotonic()
        self._count = 0

    async def next(self) -> None:
        if self._interval:
            self._count += 1
            delay = self._start + self._count * self._interval - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)


def _plan(message: str, available: set[str]) -> tuple[str, list[tuple[str, str, dict[str, Any]]]]:
    lowered = message.lower()
    wanted: list[tuple[str, dict[str, Any]]] = []
    if "[fail:tool]" in lowered:
        wanted.append(("calculate", {"expression": "1/0"}))
    if "weather" in lowered:
        city = _CITY.search(message)
        wanted.append(("get_weather", {"city": city.group(1) if city else "Seattle"}))
    if re.search(r"\btime\b", lowered):
        wanted.append(("get_time", {"timezone": "UTC"}))
    if (calculation := _CALCULATION.search(message)) is not None:
        wanted.append(("calculate", {"expression": calculation.group(1).strip()}))
    calls = [(f"call_{secrets.token_hex(6)}", name, args) for name, args in wanted if name in available]
    if calls:
        return "Let me look that up. ", calls
    quoted = " ".join(message.split())
    return f'You said: "{quoted}". {_REPLY}', []


def _answer_from_results(messages: list[dict[str, Any]]) -> str:
    results: list[str] = []
    for message in reversed(messages):
        if message.get("role") != "tool":
            break
        results.append(str(message.get("content", "")))
    return "Here is what I found: " + "; ".join(reversed(results)) + "."
