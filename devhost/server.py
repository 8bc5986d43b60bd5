"""The devhost web server: the app's HTTP triggers, the Durable extension's HTTP API, and timers.

Keys are enforced like the Functions host does in Azure: an HTTP trigger's auth level decides
(anonymous: open; function: a function key or the master key; admin: the master key), the key
coming as the `x-functions-key` header or `?code=`. `POST /admin/functions/{name}` runs a timer
function now (the host's admin API for non-HTTP functions; master key), and answers once it is done.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import AsyncIterator

from azure.functions.decorators.function_app import Function
from azure.functions.timer import TimerRequest
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from .config import DevhostConfig
from .durable import DurableEngine
from .durable.delivery import DeliveryMode
from .functions import Invoke, Invoker, load_functions, starlette_path, trigger_of
from .keys import HostKeys
from .timers import TimerRunner


def create_app(config: DevhostConfig) -> Starlette:
    functions = load_functions(config.app_module)
    keys = HostKeys.load(config.data_dir)
    engine = DurableEngine(
        functions,
        db_path=config.data_dir / "durable.db",
        base_url=config.base_url,
        task_hub=os.environ.get("TASK_HUB_NAME", "agentstream"),
        system_key=keys.durable_system_key,
        master_key=keys.master_key,
        delivery=DeliveryMode.from_environment(os.environ),
    )
    invoke = Invoker(engine.client_binding)
    timers = TimerRunner(functions, invoke)
    http_functions = sorted((fn for fn in functions if trigger_of(fn).type == "httpTrigger"), key=_route_precedence)
    specific = [fn for fn in http_functions if not _route_precedence(fn)[0]]
    catch_alls = [fn for fn in http_functions if _route_precedence(fn)[0]]
    routes: list[BaseRoute] = [
        route for fn in specific for route in _http_routes(fn, config.route_prefix, invoke, keys)
    ]
    # The host's own routes (admin API, Durable APIs) win over any function's, catch-alls included.
    routes.append(_admin_route(functions, invoke, keys))
    routes += engine.routes
    if page := _chat_page_path(functions, config.route_prefix):
        routes.append(Route("/", RedirectResponse(page), methods=["GET"]))
    routes += [route for fn in catch_alls for route in _http_routes(fn, config.route_prefix, invoke, keys)]

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await engine.start()
        timers.start()
        try:
            yield
        finally:
            await timers.stop()
            await engine.stop()

    return Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={404: _json_http_error, 405: _json_http_error},
    )


def _route_precedence(fn: Function) -> tuple[bool, int]:
    """Catch-all routes (`{*path}`) after all others, the longest literal prefix first, as the host ranks them.

    Starlette takes the first route that matches; the host's router takes the most specific one.
    """
    route = str(trigger_of(fn).route or "")
    if "{*" not in route:
        return (False, 0)
    return (True, -len(route.split("{", 1)[0]))


async def _json_http_error(request: Request, exc: Exception) -> Response:
    """Starlette's own 404/405 (no route took the request) in the API's error shape."""
    assert isinstance(exc, HTTPException)
    code = "method_not_allowed" if exc.status_code == 405 else "route_not_found"
    return JSONResponse(
        {"error": {"code": code, "message": f"{request.method} {request.url.path[:200]}: {exc.detail}"}},
        status_code=exc.status_code,
        headers=exc.headers,
    )


def _http_routes(fn: Function, route_prefix: str, invoke: Invoke, keys: HostKeys) -> list[Route]:
    trigger = trigger_of(fn)
    methods = [str(getattr(m, "value", m)).upper() for m in trigger.methods or ["GET", "POST"]]
    auth_level = str(getattr(trigger.auth_level, "value", trigger.auth_level) or "function").lower()

    async def endpoint(request: Request) -> Response:
        if not keys.admits(auth_level, _presented_key(request)):
            return Response(status_code=401)
        response = await invoke(fn, request)
        if not isinstance(response, Response):
            raise TypeError(
                f"HTTP function '{fn.get_function_name()}' returned {type(response).__name__}; "
                "in HTTP streams mode return a FastAPI/Starlette response."
            )
        return response

    path = starlette_path(route_prefix, str(trigger.route or fn.get_function_name()))
    name = fn.get_function_name()
    routes = [Route(path, endpoint, methods=methods, name=name)]
    # The host's catch-all also matches nothing at all, slash included: `ui/{*path}` takes `/api/ui`.
    if bare := re.fullmatch(r"(.*)/\{\w+:path\}", path):
        routes.append(Route(bare.group(1) or "/", endpoint, methods=methods, name=f"{name}_bare"))
    return routes


def _chat_page_path(functions: list[Function], route_prefix: str) -> str | None:
    """Where `/` should lead: the app's `ui/{*path}` route (the chat page), if it has one."""
    for fn in functions:
        trigger = trigger_of(fn)
        if trigger.type == "httpTrigger" and str(trigger.route or "").startswith("ui/"):
            return starlette_path(route_prefix, "ui") + "/"
    return None


def _admin_route(functions: list[Function], invoke: Invoke, keys: HostKeys) -> Route:
    by_name = {str(fn.get_function_name()): fn for fn in functions}

    async def run_function(request: Request) -> Response:
        if not keys.admits("admin", _presented_key(request)):
            return Response(status_code=401)
        fn = by_name.get(request.path_params["name"])
        if fn is None:
            return Response(status_code=404)
        if trigger_of(fn).type != "timerTrigger":
            return JSONResponse({"error": "devhost runs only timer functions through the admin API."}, 400)
        await invoke(fn, TimerRequest(past_due=False))
        return Response(status_code=202)

    return Route("/admin/functions/{name}", run_function, methods=["POST"])


def _presented_key(request: Request) -> str | None:
    return request.headers.get("x-functions-key") or request.query_params.get("code")
