"""The demo model reads messages as people type them."""

from __future__ import annotations

import asyncio
import json

import pytest

from agentstream.agent.llm.base import TextDelta, ToolCallDelta
from agentstream.agent.llm.demo import DemoModel

# The demo calls a tool only when it is offered one; its spec's name is all it reads.
CALCULATOR = {"name": "calculate", "description": "Arithmetic.", "parameters": {"type": "object", "properties": {}}}


def _tool_calls(message: str) -> list[tuple[str, dict[str, object]]]:
    async def collect() -> list[ToolCallDelta]:
        model = DemoModel(tokens_per_second=0)
        stream = model.stream([{"role": "user", "content": message}], [CALCULATOR])
        return [chunk async for chunk in stream if isinstance(chunk, ToolCallDelta)]

    deltas = asyncio.run(collect())
    names = {d.index: d.name for d in deltas if d.name}
    arguments = {i: "".join(d.arguments or "" for d in deltas if d.index == i) for i in names}
    return [(names[i], json.loads(arguments[i])) for i in sorted(names)]


@pytest.mark.parametrize(
    "message", ["calculate 2*(3+4).", "calculate 2*(3+4)", "Please calculate 2*(3+4) .", "calculate 2*(3+4)?"]
)
def test_a_sentence_s_closing_punctuation_is_not_part_of_the_expression(message: str) -> None:
    assert _tool_calls(message) == [("calculate", {"expression": "2*(3+4)"})]


def test_a_decimal_point_stays_part_of_the_expression() -> None:
    assert _tool_calls("calculate 1.5*2.") == [("calculate", {"expression": "1.5*2"})]


def test_an_answer_from_a_result_that_ends_a_sentence_has_one_period() -> None:
    async def answer(result: str) -> str:
        messages = [
            {"role": "user", "content": "calculate 1/0"},
            {"role": "assistant", "toolCalls": []},
            {"role": "tool", "toolCallId": "c1", "content": result},
        ]
        return "".join(
            [c.text async for c in DemoModel(tokens_per_second=0).stream(messages, []) if isinstance(c, TextDelta)]
        )

    assert asyncio.run(answer("Error: ValueError: Exponent 100 is too large.")).endswith("too large.")
    assert asyncio.run(answer("2*(3+4) = 14")) == "Here is what I found: 2*(3+4) = 14."
