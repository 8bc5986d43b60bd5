"""@tool: the JSON schema a model sees, read off a function's signature, and how calls are validated and run."""

from __future__ import annotations

import asyncio
import enum
import threading
from typing import Annotated, Any, Literal

import pytest
from pydantic import BaseModel, Field, ValidationError

from agentstream import Agent, RunContext, Tool, ToolContext, tool
from agentstream.agent.agents import Agents
from agentstream.agent.tools import ToolRegistry
from agentstream.exceptions import AgentNotFound

CONTEXT = ToolContext(thread_id="t1", run_id="r1", agent="support", tool_call_id="call_1")


class Unit(enum.Enum):
    CELSIUS = "celsius"
    FAHRENHEIT = "fahrenheit"


class Address(BaseModel):
    street: str
    city: str = Field(description="The city.")


def annotated(order_id: Annotated[str, "The order number, e.g. A-1001"]) -> str:
    """Look up the status of an order."""
    return order_id


def field_and_default(city: Annotated[str, Field(description="City name.", min_length=1)], days: int = 3) -> str:
    """Forecast for a city."""
    return city


def optional(note: str | None = None) -> str:
    """Takes an optional note."""
    return str(note)


def literal_and_enum(scale: Literal["short", "long"], unit: Unit = Unit.CELSIUS) -> str:
    """Literal and enum arguments."""
    return scale


def list_of(tags: list[str], scores: list[float] | None = None) -> str:
    """Lists."""
    return ",".join(tags)


def nested(address: Address) -> str:
    """Ship to an address."""
    return address.city


def google_docstring(order_id: str, amount: float) -> str:
    """Refund part of an order.

    The refund goes back to the original payment method.

    Args:
        order_id: The order to refund.
        amount: How much to refund, in euros,
            at most the order's total.

    Returns:
        A confirmation.
    """
    return order_id


def with_context(query: str, context: ToolContext) -> str:
    """Search, knowing who asks."""
    return query


SCHEMAS: list[tuple[Any, str, dict[str, Any]]] = [
    (
        annotated,
        "Look up the status of an order.",
        {
            "type": "object",
            "properties": {"order_id": {"type": "string", "description": "The order number, e.g. A-1001"}},
            "required": ["order_id"],
            "additionalProperties": False,
        },
    ),
    (
        field_and_default,
        "Forecast for a city.",
        {
            "type": "object",
            "properties": {
                "city": {"type": "string", "description": "City name.", "minLength": 1},
                "days": {"type": "integer", "default": 3},
            },
            "required": ["city"],
            "additionalProperties": False,
        },
    ),
    (
        optional,
        "Takes an optional note.",
        {
            "type": "object",
            "properties": {"note": {"anyOf": [{"type": "string"}, {"type": "null"}], "default": None}},
            "additionalProperties": False,
        },
    ),
    (
        literal_and_enum,
        "Literal and enum arguments.",
        {
            "type": "object",
            "$defs": {"Unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
            "properties": {
                "scale": {"type": "string", "enum": ["short", "long"]},
                "unit": {"$ref": "#/$defs/Unit", "default": "celsius"},
            },
            "required": ["scale"],
            "additionalProperties": False,
        },
    ),
    (
        list_of,
        "Lists.",
        {
            "type": "object",
            "properties": {
                "tags": {"type": "array", "items": {"type": "string"}},
                "scores": {
                    "anyOf": [{"type": "array", "items": {"type": "number"}}, {"type": "null"}],
                    "default": None,
                },
            },
            "required": ["tags"],
            "additionalProperties": False,
        },
    ),
    (
        nested,
        "Ship to an address.",
        {
            "type": "object",
            "$defs": {
                "Address": {
                    "type": "object",
                    "properties": {
                        "street": {"type": "string"},
                        "city": {"type": "string", "description": "The city."},
                    },
                    "required": ["street", "city"],
                }
            },
            "properties": {"address": {"$ref": "#/$defs/Address"}},
            "required": ["address"],
            "additionalProperties": False,
        },
    ),
    (
        google_docstring,
        "Refund part of an order.\n\nThe refund goes back to the original payment method.",
        {
            "type": "object",
            "properties": {
                "order_id": {"type": "string", "description": "The order to refund."},
                "amount": {"type": "number", "description": "How much to refund, in euros, at most the order's total."},
            },
            "required": ["order_id", "amount"],
            "additionalProperties": False,
        },
    ),
    (
        with_context,
        "Search, knowing who asks.",
        {
            "type": "object",
            "properties": {"query": {"type": "string"}},
            "required": ["query"],
            "additionalProperties": False,
        },
    ),
]


@pytest.mark.parametrize(("function", "description", "schema"), SCHEMAS, ids=[s[0].__name__ for s in SCHEMAS])
def test_the_schema_comes_from_the_signature_and_the_docstring(function, description, schema) -> None:
    spec = tool(function).spec()
    assert spec == {"name": function.__name__, "description": description, "parameters": schema}


def test_name_and_description_can_be_given() -> None:
    renamed = tool(name="find_order", description="Find an order by number.")(annotated)
    assert (renamed.spec()["name"], renamed.spec()["description"]) == ("find_order", "Find an order by number.")


def test_a_property_called_title_is_kept() -> None:
    def rename(title: Annotated[str, "The new title."]) -> str:
        """Rename a document."""
        return title

    assert tool(rename).spec()["parameters"]["properties"] == {
        "title": {"type": "string", "description": "The new title."}
    }


def call(item: Tool, arguments: str) -> str:
    return asyncio.run(item.call(arguments, CONTEXT))


def test_arguments_are_validated_and_passed_as_keywords() -> None:
    assert call(tool(nested), '{"address": {"street": "1 Main St", "city": "Oslo"}}') == "Oslo"
    with pytest.raises(ValidationError):
        call(tool(field_and_default), '{"city": ""}')
    with pytest.raises(ValidationError, match="Extra inputs"):
        call(tool(annotated), '{"order_id": "A-1", "unexpected": 1}')
    with pytest.raises(ValidationError, match="Field required"):
        call(tool(annotated), "{}")


def test_the_context_is_injected_and_never_asked_of_the_model() -> None:
    seen: list[ToolContext] = []

    def who(query: str, ctx: ToolContext) -> str:
        """Who asks."""
        seen.append(ctx)
        return query

    assert call(tool(who), '{"query": "q"}') == "q"
    assert seen == [CONTEXT]
    with pytest.raises(ValidationError):
        call(tool(who), '{"query": "q", "ctx": {"thread_id": "forged"}}')


def test_sync_tools_run_off_the_event_loop_and_async_tools_on_it() -> None:
    threads: dict[str, int] = {}

    def blocking() -> str:
        """Sync."""
        threads["sync"] = threading.get_ident()
        return "sync"

    async def awaiting() -> str:
        """Async."""
        threads["async"] = threading.get_ident()
        return "async"

    async def both() -> list[str]:
        threads["loop"] = threading.get_ident()
        return [await tool(blocking).call("{}", CONTEXT), await tool(awaiting).call("{}", CONTEXT)]

    assert asyncio.run(both()) == ["sync", "async"]
    assert threads["async"] == threads["loop"] != threads["sync"]


def test_results_that_are_not_strings_reach_the_model_as_json() -> None:
    def order() -> dict[str, Any]:
        """An order."""
        return {"id": "A-1", "total": 12.5, "items": ["book"]}

    def address() -> Address:
        """An address."""
        return Address(street="1 Main St", city="Oslo")

    assert call(tool(order), "{}") == '{"id": "A-1", "total": 12.5, "items": ["book"]}'
    assert call(tool(address), "{}") == '{"street":"1 Main St","city":"Oslo"}'


class WeatherArguments(BaseModel):
    city: str = Field(description="City name.")


def test_the_explicit_form_takes_a_pydantic_arguments_model() -> None:
    weather = Tool("get_weather", "Weather for a city.", WeatherArguments, lambda arguments: f"{arguments.city}: sunny")
    assert weather.spec()["parameters"] == {
        "type": "object",
        "properties": {"city": {"type": "string", "description": "City name."}},
        "required": ["city"],
    }
    assert call(weather, '{"city": "Oslo"}') == "Oslo: sunny"


def test_functions_that_cannot_be_described_are_refused_when_decorated() -> None:
    def untyped(order_id) -> str:  # type: ignore[no-untyped-def]
        """No hint."""
        return ""

    def undocumented(order_id: str) -> str:
        return ""

    def variadic(*ids: str) -> str:
        """Variadic."""
        return ""

    with pytest.raises(TypeError, match="'order_id' needs a type hint"):
        tool(untyped)
    with pytest.raises(ValueError, match="needs a description"):
        tool(undocumented)
    with pytest.raises(TypeError, match=r"\*ids"):
        tool(variadic)
    with pytest.raises(ValueError, match="must be 1-64 characters"):
        tool(name="has space")(annotated)


def test_an_agent_checks_its_name_and_tools_and_builds_its_instructions() -> None:
    with pytest.raises(ValueError, match="Agent name"):
        Agent(name="no/slash")
    with pytest.raises(ValueError, match="Two tools are named 'annotated'"):
        Agent(name="a", tools=[tool(annotated), tool(annotated)])
    with pytest.raises(TypeError, match="not a tool"):
        Agent(name="a", tools=[annotated])  # type: ignore[list-item]

    async def dated(context: RunContext) -> str:
        return f"Run {context.run_id} of {context.agent}."

    agent = Agent(name="support", instructions=dated, tools=[tool(annotated)], description="Support.")
    import datetime as dt

    context = RunContext("t1", "r1", "support", dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    assert asyncio.run(agent.system_prompt(context)) == "Run r1 of support."
    assert agent.info() == {"name": "support", "description": "Support.", "tools": [tool(annotated).spec()]}


def test_agents_by_name_with_the_first_as_default() -> None:
    first, second = Agent(name="first"), Agent(name="second")
    agents = Agents([first, second])
    assert agents.default is first and agents.get("second") is second and list(agents) == [first, second]
    with pytest.raises(AgentNotFound):
        agents.get("third")
    with pytest.raises(ValueError, match="Two agents"):
        Agents([first, Agent(name="first")])
    with pytest.raises(ValueError, match="at least one"):
        Agents([])
    assert "annotated" in ToolRegistry([tool(annotated)])
