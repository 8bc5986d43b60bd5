"""CORS for browser clients on other origins, from CORS_ALLOWED_ORIGINS.

The app answers preflights itself (an anonymous OPTIONS route), because a preflight carries no
function key and the host would refuse it on a key-protected route.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from ..config import get_settings
from ..exceptions import Forbidden

ALLOW_METHODS = "GET, POST, OPTIONS"
ALLOW_HEADERS = "Authorization, Content-Type, Accept, Last-Event-ID, x-functions-key"
EXPOSE_HEADERS = "Location, x-thread-id, x-run-id, x-stream-token, Retry-After"
MAX_AGE_SECONDS = "600"


def allowed_origin(request: Request) -> str | None:
    """The value for Access-Control-Allow-Origin, or None when the request's origin is not allowed."""
    origin = request.headers.get("origin")
    allowed = get_settings().cors_allowed_origins
    if origin is None or not allowed:
        return None
    if "*" in allowed:
        return "*"
    return origin if origin.rstrip("/").lower() in allowed else None


def add_cors_headers(request: Request, response: Response) -> Response:
    origin = allowed_origin(request)
    if origin is not None:
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Expose-Headers"] = EXPOSE_HEADERS
        if origin != "*":
            response.headers["Vary"] = "Origin"
    return response


def preflight(request: Request) -> Response:
    origin = allowed_origin(request)
    if origin is None:
        # The browser enforces CORS either way; a JSON error says why to whoever looks.
        origin = request.headers.get("origin", "")[:200]
        raise Forbidden(
            f"Origin '{origin}' is not allowed: add it to the CORS_ALLOWED_ORIGINS setting "
            f"(comma-separated origins, e.g. CORS_ALLOWED_ORIGINS={origin or 'http://localhost:5173'}).",
            code="origin_not_allowed",
        )
    headers = {
        "Access-Control-Allow-Origin": origin,
        "Access-Control-Allow-Methods": ALLOW_METHODS,
        "Access-Control-Allow-Headers": ALLOW_HEADERS,
        "Access-Control-Expose-Headers": EXPOSE_HEADERS,
        "Access-Control-Max-Age": MAX_AGE_SECONDS,
    }
    if origin != "*":
        headers["Vary"] = "Origin"
    return Response(status_code=204, headers=headers)
