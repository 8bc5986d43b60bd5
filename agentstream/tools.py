"""Server-side tools: typed Python functions the agent can call, run as durable activities.

Arguments are a pydantic model, so the JSON schema the model sees and the validation of what it
sends come from one definition.
"""

from __future__ import annotations

import ast
import datetime as dt
import hashlib
import inspect
import operator
import zoneinfo
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, Field

ToolFunction = Callable[[Any], Awaitable[str] | str]


@dataclass(frozen=True, slots=True)
class Tool:
    name: str
    description: str
    arguments: type[BaseModel]
    function: ToolFunction

    def spec(self) -> dict[str, Any]:
        """The AG-UI tool shape: name, description, JSON-schema parameters."""
        return {"name": self.name, "description": self.description, "parameters": self.arguments.model_json_schema()}

    async def call(self, arguments_json: str) -> str:
        arguments = self.arguments.model_validate_json(arguments_json or "{}")
        result = self.function(arguments)
        return await result if inspect.isawaitable(result) else result


class UnknownTool(LookupError):
    pass


class ToolRegistry:
    def __init__(self, tools: list[Tool] | None = None) -> None:
        self._tools = {tool.name: tool for tool in tools or []}

    def get(self, name: str) -> Tool:
        try:
            return self._tools[name]
        except KeyError:
            raise UnknownTool(f"No server tool named '{name}'. Known tools: {', '.join(self._tools)}.") from None

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def specs(self) -> list[dict[str, Any]]:
        return [tool.spec() for tool in self._tools.values()]


class WeatherArguments(BaseModel):
    city: str = Field(description="City name, e.g. 'Paris'.", min_length=1, max_length=100)


class TimeArguments(BaseModel):
    timezone: str = Field(default="UTC", description="IANA time zone, e.g. 'Europe/Paris'.")


class CalculatorArguments(BaseModel):
    expression: str = Field(description="Arithmetic with + - * / ** and parentheses.", max_length=200)


_CONDITIONS = ("sunny", "partly cloudy", "overcast", "light rain", "windy", "clear")


def get_weather(arguments: WeatherArguments) -> str:
    # Offline and deterministic: the same city always gets the same report.
    digest = hashlib.sha256(arguments.city.strip().lower().encode()).digest()
    temperature = digest[0] % 35 - 5
    return f"{arguments.city.strip()}: {temperature}°C, {_CONDITIONS[digest[1] % len(_CONDITIONS)]}"


def get_time(arguments: TimeArguments) -> str:
    now = dt.datetime.now(zoneinfo.ZoneInfo(arguments.timezone))
    return f"{now:%Y-%m-%d %H:%M} in {arguments.timezone}"


_OPERATORS: dict[type, Callable[..., Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.Pow: operator.pow,
    ast.USub: operator.neg,
    ast.UAdd: operator.pos,
}


def calculate(arguments: CalculatorArguments) -> str:
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
        raise ValueError(f"Unsupported expression: {arguments.expression!r}")

    # A sentence's closing period ("2*(3+4).") is not part of the expression.
    expression = arguments.expression.strip().rstrip(".").rstrip()
    try:
        tree = ast.parse(expression, mode="eval")
    except SyntaxError:
        raise ValueError(f"Not an arithmetic expression: {arguments.expression!r}") from None
    return f"{expression} = {evaluate(tree.body):g}"


BUILTIN_TOOLS = ToolRegistry(
    [
        Tool("get_weather", "Current weather for a city.", WeatherArguments, get_weather),
        Tool("get_time", "Current date and time in a time zone.", TimeArguments, get_time),
        Tool("calculate", "Evaluate an arithmetic expression.", CalculatorArguments, calculate),
    ]
)
