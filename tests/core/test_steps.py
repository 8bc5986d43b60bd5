"""Invariant 3 at the step level: a retried step never shows output twice."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from ag_ui.core import TextMessageContentEvent, TextMessageStartEvent

from agentstream.agent.llm.base import Chunk, ModelError, ReasoningDelta, TextDelta, Usage
from agentstream.agent.steps import CANCELLED, StepContext, run_model_step
from agentstream.agent.tools import ToolRegistry
from agentstream.exceptions import RunOver, StepSuperseded
from agentstream.log.events import NewEvent
from agentstream.log.stores.base import StepAttempt
from agentstream.log.stores.sqlite import SQLiteEventStore
from orchestrators.tools import calculate, get_time, get_weather

DEMO_TOOLS = ToolRegistry([get_weather, get_time, calculate])


class ScriptedModel:
    """Streams fixed words; fails after `fail_after` of them while `failures` remain."""

    def __init__(self, words: list[str], *, fail_after: int | None = None, failures: int = 0) -> None:
        self.words, self.fail_after, self.failures = words, fail_after, failures
        self.calls = 0

    async def stream(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> AsyncIterator[Chunk]:
        self.calls += 1
        for index, word in enumerate(self.words):
            if index == self.fail_after and self.failures:
                self.failures -= 1
                raise ModelError("connection reset")
            await asyncio.sleep(0)
            yield TextDelta(word)
        yield Usage(input_tokens=1, output_tokens=len(self.words))


async def context(tmp_path: Path) -> StepContext:
    store = SQLiteEventStore(tmp_path / "events.db")
    await store.start_run("t", "r", [], [{"id": "u", "role": "user", "content": "hi"}], create=True, agent="default")
    return StepContext(store, "t", "r")


async def log(ctx: StepContext) -> list[dict[str, Any]]:
    return [e.body() for e in await ctx.store.read("t", after=0)]


def test_a_committed_step_returns_its_result_without_calling_the_model(tmp_path: Path) -> None:
    async def main() -> None:
        ctx = await context(tmp_path)
        model = ScriptedModel(["Hello ", "world"])
        first = await run_model_step(ctx, model, DEMO_TOOLS, 0, max_attempts=3)
        events = await log(ctx)
        again = await run_model_step(ctx, model, DEMO_TOOLS, 0, max_attempts=3)
        assert again == first == {"toolCalls": []}
        assert model.calls == 1
        assert await log(ctx) == events
        assert [e["type"] for e in events] == [
            "TEXT_MESSAGE_START",
            "TEXT_MESSAGE_CONTENT",
            "TEXT_MESSAGE_CONTENT",
            "TEXT_MESSAGE_END",
        ]

    asyncio.run(main())


def test_a_step_failing_mid_stream_is_closed_and_discarded_then_redone(tmp_path: Path) -> None:
    async def main() -> None:
        ctx = await context(tmp_path)
        model = ScriptedModel(["a ", "b ", "c"], fail_after=2, failures=1)
        with pytest.raises(ModelError):
            await run_model_step(ctx, model, DEMO_TOOLS, 0, max_attempts=3)
        await run_model_step(ctx, model, DEMO_TOOLS, 0, max_attempts=3)
        events = await log(ctx)
        types = [e["type"] for e in events]
        assert types == [
            "TEXT_MESSAGE_START",
            "TEXT_MESSAGE_CONTENT",
            "TEXT_MESSAGE_CONTENT",
            "TEXT_MESSAGE_END",
            "CUSTOM",
            "TEXT_MESSAGE_START",
            "TEXT_MESSAGE_CONTENT",
            "TEXT_MESSAGE_CONTENT",
            "TEXT_MESSAGE_CONTENT",
            "TEXT_MESSAGE_END",
        ]
        marker = events[4]
        assert marker["name"] == "agentstream.step_discarded"
        assert marker["value"]["messageIds"] == [events[0]["messageId"]] and marker["value"]["attempt"] == 1
        assert events[5]["messageId"] != events[0]["messageId"]
        messages = await ctx.store.get_messages("t")
        assert messages[-1] == {"id": events[5]["messageId"], "role": "assistant", "content": "a b c"}

    asyncio.run(main())


def test_a_step_cut_off_by_a_crash_is_closed_and_discarded_before_the_redo(tmp_path: Path) -> None:
    async def main() -> None:
        ctx = await context(tmp_path)
        # What a process killed mid-stream leaves behind: a started attempt with part of its output.
        await ctx.store.begin_step("t", "r", "r.m0", 1)
        await ctx.store.append(
            "t",
            "r",
            [
                NewEvent.of(TextMessageStartEvent(message_id="r.m0.1", role="assistant")),
                NewEvent.of(TextMessageContentEvent(message_id="r.m0.1", delta="half")),
            ],
        )
        await run_model_step(ctx, ScriptedModel(["whole"]), DEMO_TOOLS, 0, max_attempts=3)
        events = await log(ctx)
        assert [e["type"] for e in events[2:4]] == ["TEXT_MESSAGE_END", "CUSTOM"]
        assert events[2]["messageId"] == "r.m0.1"
        assert events[3]["value"]["messageIds"] == ["r.m0.1"]
        assert events[4]["messageId"] == "r.m0.2"
        assert [m.get("content") for m in await ctx.store.get_messages("t")] == ["hi", "whole"]

    asyncio.run(main())


def test_a_superseded_attempt_can_neither_write_nor_commit(tmp_path: Path) -> None:
    async def main() -> None:
        ctx = await context(tmp_path)
        await ctx.store.begin_step("t", "r", "r.m0", 1)
        # A second execution of the activity takes the step over.
        await ctx.store.begin_step("t", "r", "r.m0", 2)
        stale = StepAttempt("r.m0", 1)
        with pytest.raises(StepSuperseded):
            await ctx.store.append("t", "r", [NewEvent.of(TextMessageStartEvent(message_id="x"))], attempt=stale)
        with pytest.raises(StepSuperseded):
            await ctx.store.commit_step("t", "r", "r.m0", result={}, events=[], messages=[], attempt=1)
        await ctx.store.commit_step("t", "r", "r.m0", result={"toolCalls": []}, events=[], messages=[], attempt=2)
        assert await log(ctx) == []
        assert (await ctx.store.get_step("t", "r.m0")).result == {"toolCalls": []}

    asyncio.run(main())


def test_a_cancelled_run_refuses_output_and_the_step_reports_cancelled(tmp_path: Path) -> None:
    async def main() -> None:
        ctx = await context(tmp_path)
        await ctx.store.request_cancel("t", "r")
        with pytest.raises(RunOver):
            await ctx.store.append("t", "r", [NewEvent.of(TextMessageStartEvent(message_id="x"))])
        model = ScriptedModel(["never"])
        assert await run_model_step(ctx, model, DEMO_TOOLS, 0, max_attempts=3) == CANCELLED
        assert model.calls == 0 and await log(ctx) == []

    asyncio.run(main())


class FailingModel:
    """Reasons a little, then fails with `error`."""

    def __init__(self, error: ModelError) -> None:
        self.error = error

    async def stream(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> AsyncIterator[Chunk]:
        yield ReasoningDelta("Let me ")
        yield ReasoningDelta("see")
        await asyncio.sleep(0)
        raise self.error


def test_a_final_model_error_closes_the_attempt_and_returns_the_error(tmp_path: Path) -> None:
    async def main() -> None:
        ctx = await context(tmp_path)
        error = ModelError("filtered", code="content_filter", final=True)
        result = await run_model_step(ctx, FailingModel(error), DEMO_TOOLS, 0, max_attempts=3)
        assert result == {"toolCalls": [], "error": {"code": "content_filter", "message": "filtered"}}
        types = [e["type"] for e in await log(ctx)]
        assert types == [
            "REASONING_START",
            "REASONING_MESSAGE_START",
            "REASONING_MESSAGE_CONTENT",
            "REASONING_MESSAGE_CONTENT",
            "REASONING_MESSAGE_END",
            "REASONING_END",
            "CUSTOM",
        ]
        assert [m["role"] for m in await ctx.store.get_messages("t")] == ["user"]

    asyncio.run(main())


def test_a_model_error_on_the_last_attempt_returns_the_error_instead_of_raising(tmp_path: Path) -> None:
    async def main() -> None:
        ctx = await context(tmp_path)
        model = FailingModel(ModelError("still down", code="model_unavailable"))
        with pytest.raises(ModelError):
            await run_model_step(ctx, model, DEMO_TOOLS, 0, max_attempts=2)
        result = await run_model_step(ctx, model, DEMO_TOOLS, 0, max_attempts=2)
        assert result["error"] == {"code": "model_unavailable", "message": "still down"}
        markers = [e["value"] for e in await log(ctx) if e["type"] == "CUSTOM"]
        assert [m["attempt"] for m in markers] == [1, 2]

    asyncio.run(main())
