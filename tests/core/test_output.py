"""Structured output: the strict schema an output type becomes, and the model step that validates
answers (one retry with the validation error, then `invalid_output`), driven by the demo model."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from agentstream.agent.llm import DemoModel
from agentstream.agent.output import output_schema
from agentstream.agent.steps import StepContext, run_model_step
from agentstream.agent.tools import ToolRegistry
from agentstream.log.stores.sqlite import SQLiteEventStore
from tests.core.test_docs_examples import python_blocks, run_outside_the_repository
from tests.harness import ROOT
from tests.responses_wire import strict_schema_problem


class Place(BaseModel):
    name: str
    country: str = "NO"


class Trip(BaseModel):
    """A trip plan."""

    destination: Place = Field(description="Where to go")
    days: int
    pace: Literal["slow", "fast"]
    stops: list[Place]
    budget: float | None = None


async def context(tmp_path: Path, message: str) -> StepContext:
    store = SQLiteEventStore(tmp_path / "events.db")
    user = [{"id": "u", "role": "user", "content": message}]
    await store.start_run("t", "r", [], user, create=True, agent="default")
    return StepContext(store, "t", "r")


def run_step(tmp_path: Path, message: str) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]:
    async def main() -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]:
        ctx = await context(tmp_path, message)
        result = await run_model_step(
            ctx, DemoModel(tokens_per_second=0), ToolRegistry([]), 0, max_attempts=3, output_type=Trip
        )
        events = [e.body() for e in await ctx.store.read("t", after=0)]
        return result, events, await ctx.store.get_messages("t")

    return asyncio.run(main())


def test_an_output_type_becomes_a_strict_schema_the_api_accepts() -> None:
    schema = output_schema(Trip)
    assert schema.name == "Trip"
    assert strict_schema_problem(schema.schema) is None
    assert strict_schema_problem(Trip.model_json_schema()) is not None  # as pydantic writes it, strict mode refuses it
    assert schema.schema["properties"]["destination"] == {"$ref": "#/$defs/Place"}
    assert schema.schema["required"] == ["destination", "days", "pace", "stops", "budget"]
    place = schema.schema["$defs"]["Place"]
    assert place["required"] == ["name", "country"] and "default" not in place["properties"]["country"]


def test_a_valid_answer_is_committed_with_its_output(tmp_path: Path) -> None:
    result, events, messages = run_step(tmp_path, "Plan a trip to Bergen.")
    expected = {
        "destination": {"name": "Plan a trip to Bergen.", "country": "Plan a trip to Bergen."},
        "days": 1,
        "pace": "slow",
        "stops": [{"name": "Plan a trip to Bergen.", "country": "Plan a trip to Bergen."}],
        "budget": 1,
    }
    assert result == {"toolCalls": [], "output": expected}
    assert json.loads(messages[-1]["content"]) == expected
    assert not [e for e in events if e["type"] == "CUSTOM"]


def test_an_invalid_answer_is_discarded_and_asked_for_again_with_the_error(tmp_path: Path) -> None:
    result, events, messages = run_step(tmp_path, "Plan a trip. [fail:output:once]")
    assert Trip.model_validate(result["output"]).days == 1
    [discarded] = [e["value"] for e in events if e["type"] == "CUSTOM"]
    assert discarded["messageIds"] == ["r.m0.1"] and discarded["attempt"] == 1
    texts: dict[str, str] = {}
    for e in events:
        if e["type"] == "TEXT_MESSAGE_CONTENT":
            texts[e["messageId"]] = texts.get(e["messageId"], "") + e["delta"]
    assert texts["r.m0.1"] == "This is not JSON."
    assert [m["id"] for m in messages] == ["u", "r.m0.2"]
    assert json.loads(messages[-1]["content"]) == result["output"]


def test_an_answer_invalid_twice_ends_with_invalid_output(tmp_path: Path) -> None:
    result, events, messages = run_step(tmp_path, "Plan a trip. [fail:output]")
    assert result["toolCalls"] == [] and result["error"]["code"] == "invalid_output"
    assert result["error"]["message"].startswith("The model's answer did not validate as Trip, twice: ")
    assert result["error"]["message"].endswith("twice: the answer: Invalid JSON: expected value at line 1 column 1")
    assert [e["value"]["attempt"] for e in events if e["type"] == "CUSTOM"] == [1, 2]
    assert [m["id"] for m in messages] == ["u"]


def test_the_demo_hands_over_encrypted_reasoning_that_never_shows_as_text(tmp_path: Path) -> None:
    async def main() -> None:
        ctx = await context(tmp_path, "Think about it. [encrypted-reasoning]")
        await run_model_step(ctx, DemoModel(tokens_per_second=0), ToolRegistry([]), 0, max_attempts=3)
        events = [e.body() for e in await ctx.store.read("t", after=0)]
        reasoning, answer = (await ctx.store.get_messages("t"))[1:]
        sealed = reasoning["encryptedValue"]
        assert reasoning["metadata"]["providerItemId"].startswith("rs_demo_")
        [carrier] = [e for e in events if e["type"] == "REASONING_ENCRYPTED_VALUE"]
        assert carrier["encryptedValue"] == sealed and carrier["entityId"] == reasoning["id"]
        assert all(sealed not in json.dumps(e) for e in events if e is not carrier)
        assert sealed not in reasoning["content"] + answer["content"]

    asyncio.run(main())


def test_the_guide_s_structured_output_example_builds_with_a_strict_schema(tmp_path: Path) -> None:
    [example] = [block for block in python_blocks(ROOT / "docs" / "models.md") if "output_type=Forecast" in block]
    check = (
        "\nimport json\n"
        "from agentstream.agent.output import output_schema\n"
        "print(json.dumps(output_schema(app.agents.get('forecaster').output_type).schema))\n"
    )
    schema = json.loads(run_outside_the_repository(tmp_path, example + check))
    assert strict_schema_problem(schema) is None
    assert schema["required"] == ["city", "high_c", "conditions", "warning"]
    assert schema["properties"]["high_c"]["description"] == "Today's high in °C"
