"""The one place an APIError becomes an HTTP response."""

from __future__ import annotations

from starlette.responses import JSONResponse

from ..exceptions import APIError


def error_response(exc: APIError) -> JSONResponse:
    return JSONResponse(exc.to_body(), status_code=exc.status_code, headers=exc.headers)
