"""The offline demo model: deterministic, paced like a real one, and able to call tools.

What it does with the last user message:
- mentions of "weather" and/or "time" → calls get_weather / get_time (both at once when both appear),
  then answers from the results in a second turn;
- "calculate <expression>" → calls the calculator;
- the name of any other tool it was given (a client-side tool, say) → calls it, with arguments made
  from its JSON schema: the message for required strings, 1 for numbers, true for booleans;
- "think" → streams its reasoning (REASONING_*) before the answer; with `[encrypted-reasoning]` also, it
  hands over that reasoning encrypted (an opaque value the thread keeps for the next call), as
  reasoning models do on the Responses API;
- with an agent's `output_type`, the final answer is JSON in its schema (strings quote the message);
  `[fail:output]` → an answer that is not JSON, every time (the run ends with `invalid_output`);
  `[fail:output:once]` → not JSON at first, valid JSON once told what was wrong;
- `[fail:model]` → streams a few tokens, then fails (to try error handling and retries);
- `[fail:tool]` → asks the calculator to divide by zero: the model gets an error result;
- `[stamps:N]` → the text is N deltas, each the wall-clock time it was produced (`time.time_ns()` and a
  space), so a reader can measure delivery latency (what `make bench` does);
- anything else → a fixed-length reply that quotes the message.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import secrets
import time
from collections.abc import AsyncGenerator
from typing import Any

from ..output import CORRECTION_SUFFIX
from .base import Chunk, EncryptedReasoning, ModelError, OutputSchema, ReasoningDelta, TextDelta, ToolCallDelta, Usage

_REPLY = (
    "This answer comes from agentstream's offline demo model. Every token you see was appended to the "
    "thread's event log before it reached you, so you can close this page, reconnect with the last event "
    "id, and pick up exactly where you left off, with nothing lost and nothing repeated."
)
_WORDS = re.compile(r"\S+\s*")
_CITY = re.compile(r"\b(?:in|for|at)\s+([A-Z][\w'-]*(?:\s+[A-Z][\w'-]*)*)")
_CALCULATION = re.compile(r"calculate\s+([-+*/().\d\s]+)", re.IGNORECASE)
_THINK = re.compile(r"\bthink\b", re.IGNORECASE)
_REASONING = (
    "The user wants me to think first. I will read the message, check whether a tool can help, and then answer plainly."
)
_STAMPS = re.compile(r"\[stamps:(\d{1,7})\]")
_NOT_JSON = "This is not JSON."


class DemoModelError(ModelError):
    code = "model_error"


class DemoModel:
    def __init__(self, *, tokens_per_second: float = 40.0) -> None:
        self.tokens_per_second = tokens_per_second

    async def stream(
        self, messages: list[dict[str, Any]], tools: list[dict[str, Any]], *, output: OutputSchema | None = None
    ) -> AsyncGenerator[Chunk, None]:
        pace = _Pace(self.tokens_per_second)
        prompt_tokens = sum(len(_WORDS.findall(str(m.get("content") or ""))) for m in messages)
        correcting = bool(messages) and str(messages[-1].get("id", "")).endswith(CORRECTION_SUFFIX)
        if correcting:
            # Asked again after an answer that did not validate: answer the request before it.
            messages = messages[:-2]
        last = messages[-1] if messages else {"role": "user", "content": ""}
        calls: list[tuple[str, str, dict[str, Any]]] = []
        reasoning = ""
        if last.get("role") == "tool":
            text = _answer_from_results(messages)
            request = text
        else:
            request = str(last.get("content") or "")
            text, calls = _plan(request, tools)
            reasoning = _REASONING if _THINK.search(request) else ""
        if output is not None and not calls:
            asked = next((str(m.get("content") or "") for m in reversed(messages) if m.get("role") == "user"), "")
            text = _structured_answer(output, request, failing=_fails_output(asked, correcting))
        output_tokens = 0
        for word in _WORDS.findall(reasoning):
            await pace.next()
            yield ReasoningDelta(word)
            output_tokens += 1
        if reasoning and "[encrypted-reasoning]" in request:
            sealed = base64.b64encode(json.dumps({"demo_reasoning": reasoning}).encode()).decode()
            yield EncryptedReasoning(0, f"rs_demo_{secrets.token_hex(8)}", sealed)
        fail_after = 3 if "[fail:model]" in str(last.get("content") or "") else None
        stamps = _STAMPS.search(str(last.get("content") or "")) if last.get("role") == "user" else None
        words = [""] * int(stamps.group(1)) if stamps is not None else _WORDS.findall(text)
        for word in words:
            if output_tokens == fail_after:
                raise DemoModelError("The demo model failed on purpose ([fail:model] in the message).")
            await pace.next()
            # A stamp is taken after the pacing sleep: the moment the delta is handed on.
            yield TextDelta(f"{time.time_ns()} " if stamps is not None else word)
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
        yield Usage(
            input_tokens=prompt_tokens, output_tokens=output_tokens, reasoning_tokens=len(_WORDS.findall(reasoning))
        )


class _Pace:
    """Sleeps to a schedule rather than a fixed delay per token, so timer lag does not accumulate."""

    def __init__(self, tokens_per_second: float) -> None:
        self._interval = 1 / tokens_per_second if tokens_per_second > 0 else 0.0
        self._start = time.monotonic()
        self._count = 0

    async def next(self) -> None:
        if not self._interval:
            # Unpaced, still yield to the event loop between tokens, as a client awaiting its socket
            # does; otherwise a whole answer is produced before its first write can start.
            await asyncio.sleep(0)
            return
        self._count += 1
        delay = self._start + self._count * self._interval - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)


def _plan(message: str, tools: list[dict[str, Any]]) -> tuple[str, list[tuple[str, str, dict[str, Any]]]]:
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
        # "calculate 2*(3+4)." ends a sentence: the period is not part of the expression.
        wanted.append(("calculate", {"expression": calculation.group(1).strip().rstrip(".").rstrip()}))
    named = {name for name, _ in wanted}
    for tool in tools:
        if tool["name"] not in named and re.search(rf"(?<![\w-]){re.escape(tool['name'])}(?![\w-])", message):
            wanted.append((tool["name"], _arguments_for(tool.get("parameters") or {}, message)))
    available = {tool["name"] for tool in tools}
    calls = [(f"call_{secrets.token_hex(6)}", name, args) for name, args in wanted if name in available]
    if calls:
        return "Let me look that up. ", calls
    quoted = " ".join(message.split())
    return f'You said: "{quoted}". {_REPLY}', []


def _arguments_for(schema: dict[str, Any], message: str) -> dict[str, Any]:
    """Deterministic arguments that fit a tool's JSON schema: one value per required property."""
    samples: dict[str, Any] = {"string": message, "integer": 1, "number": 1, "boolean": True, "array": [], "object": {}}
    arguments: dict[str, Any] = {}
    properties = schema.get("properties") or {}
    for name in schema.get("required") or []:
        prop = properties.get(name) or {}
        if prop.get("enum"):
            arguments[name] = prop["enum"][0]
            continue
        kind = prop.get("type", "string")
        arguments[name] = samples.get(kind[0] if isinstance(kind, list) else kind)
    return arguments


def _fails_output(asked: str, correcting: bool) -> bool:
    return "[fail:output]" in asked or ("[fail:output:once]" in asked and not correcting)


def _structured_answer(output: OutputSchema, request: str, *, failing: bool) -> str:
    if failing:
        return _NOT_JSON
    quoted = " ".join(request.split())
    return json.dumps(_sample(output.schema, output.schema.get("$defs") or {}, quoted))


def _sample(schema: dict[str, Any], defs: dict[str, Any], text: str) -> Any:
    """A value that fits a JSON schema, the same every time: `text` for strings, 1 for numbers."""
    if "$ref" in schema:
        return _sample(defs[schema["$ref"].rsplit("/", 1)[-1]], defs, text)
    if "anyOf" in schema:
        options = [option for option in schema["anyOf"] if option.get("type") != "null"]
        return _sample(options[0], defs, text) if options else None
    if schema.get("enum"):
        return schema["enum"][0]
    if "const" in schema:
        return schema["const"]
    kind = schema.get("type", "object")
    if kind == "object":
        return {name: _sample(sub, defs, text) for name, sub in (schema.get("properties") or {}).items()}
    if kind == "array":
        return [_sample(schema.get("items") or {}, defs, text)]
    return {"string": text, "integer": 1, "number": 1, "boolean": True}.get(kind)


def _answer_from_results(messages: list[dict[str, Any]]) -> str:
    results: list[str] = []
    for message in reversed(messages):
        if message.get("role") != "tool":
            break
        results.append(str(message.get("content", "")))
    answer = "Here is what I found: " + "; ".join(reversed(results))
    return answer if answer.endswith((".", "!", "?")) else answer + "."
