"""The demo agent's tools. Offline and deterministic, so the demo model can show tool calls anywhere."""

from __future__ import annotations

import ast
import datetime as dt
import hashlib
import operator
import zoneinfo
from collections.abc import Callable
from typing import Annotated, Any

from pydantic import Field

from agentstream import tool

_CONDITIONS = ("sunny", "partly cloudy", "overcast", "light rain", "windy", "clear")


@tool
def get_weather(
    city: Annotated[str, Field(description="City name, e.g. 'Paris'.", min_length=1, max_length=100)],
) -> str:
    """Current weather for a city."""
    # The same city always gets the same report.
    digest = hashlib.sha256(city.strip().lower().encode()).digest()
    temperature = digest[0] % 35 - 5
    return f"{city.strip()}: {temperature}°C, {_CONDITIONS[digest[1] % len(_CONDITIONS)]}"


@tool
def get_time(timezone: Annotated[str, "IANA time zone, e.g. 'Europe/Paris'."] = "UTC") -> str:
    """Current date and time in a time zone."""
    now = dt.datetime.now(zoneinfo.ZoneInfo(timezone))
    return f"{now:%Y-%m-%d %H:%M} in {timezone}"


_OPERATORS: dict[type, Callable[..., Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.Pow: operator.pow,
    ast.USub: operator.neg,
    ast.UAdd: operator.pos,
}


@tool
def calculate(
    expression: Annotated[str, Field(description="Arithmetic with + - * / ** and parentheses.", max_length=200)],
) -> str:
    """Evaluate an arithmetic expression."""

    def evaluate(node: ast.AST) -> Any:
        if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
            return node.value
        if isinstance(node, ast.BinOp) and type(node.op) in _OPERATORS:
            left, right = evaluate(node.left), evaluate(node.right)
            if isinstance(node.op, ast.Pow) and abs(right) > 64:
                raise ValueError(f"Exponent {right} is too large.")
            return _OPERATORS[type(node.op)](left, right)
        if isinstance(node, ast.UnaryOp) and type(node.op) in _OPERATORS:
            return _OPERATORS[type(node.op)](evaluate(node.operand))
        raise ValueError(f"Unsupported expression: {expression!r}")

    # A sentence's closing period ("2*(3+4).") is not part of the expression.
    cleaned = expression.strip().rstrip(".").rstrip()
    try:
        tree = ast.parse(cleaned, mode="eval")
    except SyntaxError:
        raise ValueError(f"Not an arithmetic expression: {expression!r}") from None
    return f"{cleaned} = {evaluate(tree.body):g}"


@tool(approval="always")
def book_table(
    restaurant: Annotated[str, "The restaurant, e.g. 'Chez Anna'."],
    guests: Annotated[int, Field(description="How many people.", ge=1, le=20)] = 2,
) -> str:
    """Book a table at a restaurant. Asks you to approve first."""
    # Deterministic, like the other demo tools: a booking reference from the request.
    reference = hashlib.sha256(f"{restaurant.strip().lower()}:{guests}".encode()).hexdigest()[:6].upper()
    return f"Booked a table for {guests} at {restaurant.strip()} (reference {reference})."
