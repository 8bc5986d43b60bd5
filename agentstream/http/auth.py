"""Who may call what, per API_AUTH.

- Callers (start, cancel, tool results, AG-UI): with `function_key` the Functions host checks the
  key before a request reaches the app (the routes' auth level follows API_AUTH). With `entra`,
  App Service authentication validates the caller's token and forwards the principal in
  `X-MS-CLIENT-PRINCIPAL`; a request without it did not come through that check and is refused.
- Readers (stream, status): a stream token bound to the thread, as `Authorization: Bearer` or
  `?access_token=` (EventSource cannot set headers). The host lets these routes through anonymously.
"""

from __future__ import annotations

import base64
import binascii
import json

from starlette.requests import Request

from ..config import Settings
from ..exceptions import Unauthorized
from ..tokens import verify_stream_token

PRINCIPAL_HEADER = "x-ms-client-principal"


def authorize_caller(request: Request, settings: Settings) -> None:
    if settings.api_auth != "entra":
        return
    encoded = request.headers.get(PRINCIPAL_HEADER, "")
    try:
        principal = json.loads(base64.b64decode(encoded, validate=True)) if encoded else None
    except (binascii.Error, ValueError):
        principal = None
    if not isinstance(principal, dict):
        raise Unauthorized(
            "Sign in with Microsoft Entra ID: this API is behind App Service authentication.", code="unauthenticated"
        )


def authorize_reader(request: Request, thread_id: str, settings: Settings) -> None:
    if settings.api_auth == "none":
        return
    token = bearer_token(request) or request.query_params.get("access_token", "")
    if not token:
        raise Unauthorized(
            "A stream token is required: send the start call's stream_token as 'Authorization: Bearer <token>' "
            "or '?access_token=<token>'.",
            code="token_required",
        )
    verify_stream_token(settings.stream_token_secret, token, thread_id)


def bearer_token(request: Request) -> str:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" else ""
