"""Finding an app's functions the way the Python worker does, and calling them.

The app module is imported and its one top-level FunctionRegister (the DFApp) is asked for its
functions through the v2 programming model's own indexing, `get_functions()`.
"""

from __future__ import annotations

import importlib
import inspect
import re
from collections.abc import Awaitable, Callable
from typing import Any

import azure.functions as func
from azure.functions.decorators.function_app import Function

SUPPORTED_TRIGGERS = {"httpTrigger", "timerTrigger", "orchestrationTrigger", "activityTrigger"}
_ROUTE_PARAMETER = re.compile(r"\{(\*)?(\w+)(?::(\w+))?(\?)?\}")


class UnsupportedFunction(Exception):
    """The app uses a trigger or binding devhost cannot run."""


def trigger_of(fn: Function) -> Any:
    trigger = fn.get_trigger()
    if trigger is None:
        raise UnsupportedFunction(f"Function '{fn.get_function_name()}' has no trigger.")
    return trigger


def load_functions(module_name: str) -> list[Function]:
    module = importlib.import_module(module_name)
    registers = [v for v in vars(module).values() if isinstance(v, func.FunctionRegister)]
    if len(registers) != 1:
        raise UnsupportedFunction(
            f"Module '{module_name}' must define exactly one function app, found {len(registers)}."
        )
    functions: list[Function] = registers[0].get_functions()
    for fn in functions:
        trigger = trigger_of(fn).type
        if trigger not in SUPPORTED_TRIGGERS:
            raise UnsupportedFunction(
                f"Function '{fn.get_function_name()}' uses a {trigger}, which devhost does not run."
            )
        for binding in fn.get_bindings():
            if binding is not trigger_of(fn) and binding.type not in ("durableClient", "http"):
                raise UnsupportedFunction(
                    f"Function '{fn.get_function_name()}' uses a {binding.type} binding, "
                    "which devhost does not provide."
                )
    return functions


class Invoker:
    """Calls a function with its trigger value and the input bindings devhost provides."""

    def __init__(self, durable_client_binding: Callable[[], str]) -> None:
        self._durable_client_binding = durable_client_binding

    async def __call__(self, fn: Function, trigger_value: Any) -> Any:
        arguments = {trigger_of(fn).name: trigger_value}
        for binding in fn.get_bindings():
            if binding.type == "durableClient":
                arguments[binding.name] = self._durable_client_binding()
        result = fn.get_user_function()(**arguments)
        return await result if inspect.isawaitable(result) else result


Invoke = Callable[[Function, Any], Awaitable[Any]]


def starlette_path(route_prefix: str, route: str) -> str:
    """An Azure Functions route template as a Starlette path.

    `{id:int}` keeps its type, other constraints go, and a catch-all `{*rest}` takes the rest of
    the path, slashes included.
    """

    def convert(match: re.Match[str]) -> str:
        catch_all, name, constraint, optional = match.groups()
        if catch_all:
            return f"{{{name}:path}}"
        if optional:
            raise UnsupportedFunction(
                f"Optional route parameter '{{{name}?}}' in '{route}' is not supported by devhost."
            )
        return f"{{{name}:int}}" if constraint == "int" else f"{{{name}}}"

    prefix = f"/{route_prefix.strip('/')}" if route_prefix.strip("/") else ""
    return f"{prefix}/{_ROUTE_PARAMETER.sub(convert, route.strip('/'))}"
