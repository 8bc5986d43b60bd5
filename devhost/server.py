"""The devhost web server: the app's HTTP triggers, the Durable extension's HTTP API, and timers."""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator

from azure.functions.decorators.function_app import Function
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from .config import DevhostConfig
from .durable import DurableEngine
from .functions import Invoke, Invoker, load_functions, starlette_path, trigger_of
from .timers import TimerRunner


def create_app(config: DevhostConfig) -> Starlette:
    functions = load_functions(config.app_module)
    engine = DurableEngine(
        functions,
        db_path=config.data_dir / "durable.db",
        base_url=config.base_url,
        task_hub=os.environ.get("TASK_HUB_NAME", "agentstream"),
    )
    invoke = Invoker(engine.client_binding)
    timers = TimerRunner(functions, invoke)
    routes: list[BaseRoute] = [
        _http_route(fn, config.route_prefix, invoke) for fn in functions if trigger_of(fn).type == "httpTrigger"
    ]
    routes += engine.routes
    if page := _chat_page_path(functions, config.route_prefix):
        routes.append(Route("/", RedirectResponse(page), methods=["GET"]))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await engine.start()
        timers.start()
        try:
            yield
        finally:
            await timers.stop()
            await engine.stop()

    return Starlette(routes=routes, lifespan=lifespan)


def _http_route(fn: Function, route_prefix: str, invoke: Invoke) -> Route:
    trigger = trigger_of(fn)
    methods = [str(getattr(m, "value", m)).upper() for m in trigger.methods or ["GET", "POST"]]

    async def endpoint(request: Request) -> Response:
        response = await invoke(fn, request)
        if not isinstance(response, Response):
            raise TypeError(
                f"HTTP function '{fn.get_function_name()}' returned {type(response).__name__}; "
                "in HTTP streams mode return a FastAPI/Starlette response."
            )
        return response

    path = starlette_path(route_prefix, str(trigger.route or fn.get_function_name()))
    return Route(path, endpoint, methods=methods, name=fn.get_function_name())


def _chat_page_path(functions: list[Function], route_prefix: str) -> str | None:
    """Where `/` should lead: the app's `ui/{*path}` route (the chat page), if it has one."""
    for fn in functions:
        trigger = trigger_of(fn)
        if trigger.type == "httpTrigger" and str(trigger.route or "").startswith("ui/"):
            return starlette_path(route_prefix, "ui") + "/"
    return None
