"""What answers a request no route of the API takes: JSON 405 (with Allow) for a known path, JSON 404 otherwise.

The Functions host answers an unmatched path, and a path whose route does not take the method, with an
empty 404 of its own. The app registers one catch-all route under the prefix (`{*path}`, every method),
which the host ranks after every more specific route, so such requests reach this handler instead.
A CORS preflight for any route is answered here too.
"""

from __future__ import annotations

import functools
import re

from starlette.requests import Request
from starlette.responses import Response

from ..exceptions import MethodNotAllowed, NotFound
from .cors import preflight
from .handlers import api_endpoint
from .openapi import openapi_document

# The chat page's catch-all route; not part of the API document.
PAGE_ROUTE = ("/ui/", ("GET",))


@functools.cache
def _routes() -> list[tuple[re.Pattern[str], tuple[str, ...]]]:
    routes = []
    for template, operations in openapi_document()["paths"].items():
        pattern = re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template))
        routes.append((re.compile(pattern), tuple(sorted(method.upper() for method in operations))))
    page_prefix, page_methods = PAGE_ROUTE
    routes.append((re.compile(re.escape(page_prefix.rstrip("/")) + "(/.*)?"), page_methods))
    return routes


def allowed_methods(path: str) -> tuple[str, ...]:
    """The methods the API serves at `path` (relative to the route prefix, with its leading '/')."""
    for pattern, methods in _routes():
        if pattern.fullmatch(path):
            return methods
    return ()


@api_endpoint
async def unmatched_route(request: Request, path: str) -> Response:
    if request.method == "OPTIONS" and "access-control-request-method" in request.headers:
        return preflight(request)
    methods = allowed_methods("/" + path.lstrip("/"))
    if not methods:
        raise NotFound(f"No route {request.url.path[:200]!r} here: see /api/openapi.json.", code="route_not_found")
    if request.method in methods:
        # A documented route this build does not serve.
        raise NotFound(f"{request.method} {request.url.path[:200]!r} is not served here.", code="route_not_found")
    raise MethodNotAllowed(
        f"{request.method} is not allowed on {request.url.path[:200]!r}; use {', '.join(methods)}.",
        headers={"Allow": ", ".join(methods)},
    )
