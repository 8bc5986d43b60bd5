"""Errors raised by the Python client.

The hierarchy:

* ClientError
  + StreamGapError             -- the stream skipped event ids: events were lost
  + ProtocolError              -- the server answered something that is not our stream
  + DisconnectedError          -- the server stayed unreachable through every reconnect attempt
  + RunFailedError             -- the run ended with RUN_ERROR (the async client's `result()`)
  + APIStatusError             -- a 4xx/5xx answer, carrying the server's {"error": {"code", "message"}}
    x BadRequestError          400
    x AuthenticationError      401
    x PermissionDeniedError    403
    x NotFoundError            404
    x ConflictError            409
    x CursorExpiredError       410
    x PayloadTooLargeError     413
    x UnsupportedMediaTypeError 415
    x RateLimitError           429
    x ServerError              5xx
"""

from __future__ import annotations

import http
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from ._base_run import RunResult


class ClientError(Exception):
    """Base class of the client's errors."""


class StreamGapError(ClientError):
    """The stream went from one event id to a later one that is not the next: events were lost."""

    def __init__(self, expected: int, received: int) -> None:
        self.expected = expected
        self.received = received
        super().__init__(
            f"Event id {received} arrived where {expected} was expected: events {expected}-{received - 1} "
            "are missing. The stream cannot be trusted; read the thread's status or restart from an earlier id."
        )


class ProtocolError(ClientError):
    """The server answered with something other than the agentstream API (wrong media type, bad frame)."""


class DisconnectedError(ClientError):
    """The stream could not be re-established within the reconnect policy's attempts."""


class RunFailedError(ClientError):
    """The run ended with RUN_ERROR. `code` and `message` are the server's; `result` is the whole `RunResult`."""

    def __init__(self, result: RunResult) -> None:
        self.result = result
        error = result.error or {}
        self.code = error.get("code", "")
        self.message = error.get("message", "")
        super().__init__(f"Run {result.run_id} of thread {result.thread_id} failed: {self.code}: {self.message}")


class APIStatusError(ClientError):
    """The server answered 4xx/5xx. `code` and `message` come from its JSON error body when it sent one."""

    def __init__(
        self, status_code: int, code: str, message: str, *, headers: dict[str, str] | None = None, body: Any = None
    ) -> None:
        self.status_code = status_code
        self.code = code
        self.message = message
        self.headers = headers or {}
        self.body = body
        super().__init__(f"{status_code} {code}: {message}")

    def __repr__(self) -> str:
        return f"{type(self).__name__}(status_code={self.status_code!r}, code={self.code!r}, message={self.message!r})"

    @property
    def retry_after(self) -> float | None:
        """Seconds the server asked us to wait (`Retry-After`), when it said."""
        value = self.headers.get("Retry-After") or self.headers.get("retry-after")
        try:
            return float(value) if value is not None else None
        except ValueError:
            return None


class BadRequestError(APIStatusError):
    """400: the request (or the cursor) was malformed."""


class AuthenticationError(APIStatusError):
    """401: no credentials, or bad ones."""


class PermissionDeniedError(APIStatusError):
    """403: the credentials do not allow this."""


class NotFoundError(APIStatusError):
    """404: no such thread or run."""


class ConflictError(APIStatusError):
    """409: the thread already has an active run, or the run already ended."""


class CursorExpiredError(APIStatusError):
    """410: the cursor is older than the server's retention; those events are gone."""


class PayloadTooLargeError(APIStatusError):
    """413: the request body or its messages are over the server's limits."""


class UnsupportedMediaTypeError(APIStatusError):
    """415: the request's Content-Type is not accepted."""


class RateLimitError(APIStatusError):
    """429: too many requests; see `retry_after`."""


class ServerError(APIStatusError):
    """5xx: the server failed or is shedding load; see `retry_after`."""


_BY_STATUS: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    410: CursorExpiredError,
    413: PayloadTooLargeError,
    415: UnsupportedMediaTypeError,
    429: RateLimitError,
}


class _Response(Protocol):
    """What both `requests.Response` and a read `httpx.Response` offer."""

    @property
    def status_code(self) -> int: ...

    @property
    def headers(self) -> Mapping[str, str]: ...

    @property
    def text(self) -> str: ...

    def json(self) -> Any: ...


def error_from_response(response: _Response) -> APIStatusError:
    """The typed error for a 4xx/5xx answer, reading the server's JSON error when there is one."""
    status = response.status_code
    body: Any = None
    code = ""
    message = ""
    try:
        body = response.json()
    except ValueError:
        body = response.text
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        code = str(body["error"].get("code") or "")
        message = str(body["error"].get("message") or "")
    try:
        phrase = http.HTTPStatus(status).phrase
    except ValueError:
        phrase = "HTTP error"
    cls = _BY_STATUS.get(status, ServerError if status >= 500 else APIStatusError)
    return cls(
        status,
        code or phrase.lower().replace(" ", "_"),
        message or phrase,
        headers=dict(response.headers),
        body=body,
    )
