"""Errors raised by agentstream.

The hierarchy:

* AgentStreamError
  + ConfigError              -- a setting has a value we cannot use
  + StoreUnavailable         -- the event store cannot be reached
  + RunOver                  -- an append to a run that is cancelled or finished
  + CancelRequested          -- a run told `cancelling` finishing any other way than cancelled
  + StepSuperseded           -- a write from a step attempt that a newer attempt replaced
  + MCPServerError           -- an MCP server could not be reached, or refused a request
  + MCPToolError             -- an MCP server's tool answered with an error
  + APIError                 -- an error with an HTTP status, rendered as {"error": {"code", "message"}}
    x InvalidRequest         400
    x Unauthorized           401  (a missing, forged or expired credential)
    x Forbidden              403  (a valid credential for something else)
    x NotFound               404  (ThreadNotFound, RunNotFound, ToolCallNotFound, AgentNotFound,
                                   InterruptNotFound)
    x MethodNotAllowed       405
    x AgentMismatch          409
    x InterruptPending       409
    x RunAlreadyActive       409
    x RunFinished            409
    x RunNotWaiting          409
    x ToolCallAnswered       409
    x CursorExpired          410
    x InterruptExpired       410
    x PayloadTooLarge        413
    x UnsupportedMediaType   415
    x ServiceUnavailable     503

The core raises these; exactly one function per host (`agentstream.http.errors.error_response`)
turns an APIError into a response.
"""

from __future__ import annotations

import http
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pydantic import ValidationError


class AgentStreamError(Exception):
    """Base class of every error agentstream raises on purpose."""


class ConfigError(AgentStreamError):
    """A setting has a value that cannot be used."""


class StoreUnavailable(AgentStreamError):
    """The event store could not be reached or failed mid-operation."""


class RunOver(AgentStreamError):
    """The run is cancelled or finished: nothing more may be appended to it."""


class CancelRequested(AgentStreamError):
    """The run was asked to cancel (and the caller told so): it may only finish as cancelled."""


class StepSuperseded(AgentStreamError):
    """A newer attempt of the step took over (or it committed): this attempt's writes are refused."""


class MCPServerError(AgentStreamError):
    """An MCP server could not be reached, did not answer in time, or refused a request."""


class MCPToolError(AgentStreamError):
    """An MCP server's tool answered with an error result; the message is what the tool said."""


class APIError(AgentStreamError):
    status_code: int = 500
    code: str = "internal_error"

    def __init__(
        self,
        message: str | None = None,
        *,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.message = message or http.HTTPStatus(self.status_code).phrase
        if code is not None:
            self.code = code
        self.headers = headers or {}
        super().__init__(self.message)

    def __str__(self) -> str:
        return f"{self.status_code} {self.code}: {self.message}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(status_code={self.status_code!r}, code={self.code!r}, message={self.message!r})"

    def to_body(self) -> dict[str, dict[str, str]]:
        return {"error": {"code": self.code, "message": self.message}}


class InvalidRequest(APIError):
    status_code = 400
    code = "invalid_request"


class Unauthorized(APIError):
    status_code = 401
    code = "unauthorized"

    def __init__(self, message: str | None = None, *, code: str | None = None) -> None:
        super().__init__(message, code=code, headers={"WWW-Authenticate": "Bearer"})


class Forbidden(APIError):
    status_code = 403
    code = "forbidden"


class NotFound(APIError):
    status_code = 404
    code = "not_found"


class ThreadNotFound(NotFound):
    code = "thread_not_found"

    def __init__(self, thread_id: str) -> None:
        super().__init__(f"Thread '{thread_id}' does not exist.")


class RunNotFound(NotFound):
    code = "run_not_found"

    def __init__(self, thread_id: str, run_id: str) -> None:
        super().__init__(f"Run '{run_id}' does not exist on thread '{thread_id}'.")


class AgentNotFound(NotFound):
    code = "agent_not_found"

    def __init__(self, name: str) -> None:
        super().__init__(f"No agent named '{name[:64]}'. GET /api/agents lists them.")


class ToolCallNotFound(NotFound):
    code = "tool_call_not_found"

    def __init__(self, run_id: str | None, tool_call_id: str) -> None:
        where = f"of run '{run_id}'" if run_id else "in the thread"
        super().__init__(f"No client-side tool call '{tool_call_id[:128]}' {where} awaits a result.")


class AgentMismatch(APIError):
    """A thread continued through an agent other than the one that created it."""

    status_code = 409
    code = "agent_mismatch"

    def __init__(self, thread_id: str, owner: str, agent: str) -> None:
        self.owner = owner
        self.agent = agent
        super().__init__(f"Thread '{thread_id}' belongs to agent '{owner}', not '{agent}'.")


class MethodNotAllowed(APIError):
    status_code = 405
    code = "method_not_allowed"


class RunAlreadyActive(APIError):
    status_code = 409
    code = "run_active"

    def __init__(self, thread_id: str, run_id: str) -> None:
        self.active_run_id = run_id
        super().__init__(
            f"Thread '{thread_id}' already has an active run '{run_id}'. "
            "Wait for it to finish or cancel it before starting another."
        )


class RunFinished(APIError):
    status_code = 409
    code = "run_finished"


class RunNotWaiting(APIError):
    """Tool results for a run that is over (or cancelling): nothing waits for them any more."""

    status_code = 409
    code = "run_not_waiting"


class ToolCallAnswered(APIError):
    status_code = 409
    code = "tool_call_answered"

    def __init__(self, tool_call_id: str) -> None:
        super().__init__(f"Tool call '{tool_call_id[:128]}' already has a result.")


class InterruptNotFound(NotFound):
    code = "interrupt_not_found"

    def __init__(self, thread_id: str, interrupt_id: str) -> None:
        super().__init__(f"Thread '{thread_id}' has no open interrupt '{interrupt_id[:200]}'.")


class InterruptPending(APIError):
    """The thread's last run stopped for a person's decision: only a `resume` answering it continues it."""

    status_code = 409
    code = "interrupt_pending"

    def __init__(self, thread_id: str, interrupt_ids: list[str]) -> None:
        self.interrupt_ids = interrupt_ids
        super().__init__(
            f"Thread '{thread_id}' waits for a decision on interrupt(s) {', '.join(interrupt_ids)}. "
            'Send "resume": [{"interruptId", "status", "payload"}] answering each before new input.'
        )


class InterruptExpired(APIError):
    status_code = 410
    code = "interrupt_expired"

    def __init__(self, interrupt_id: str, expired_at: str) -> None:
        super().__init__(
            f"Interrupt '{interrupt_id}' expired at {expired_at}: it can only be declined now "
            '("status": "cancelled", or "payload": {"approved": false}).'
        )


class CursorExpired(APIError):
    """The cursor points before the oldest event still kept: what it missed is past retention."""

    status_code = 410
    code = "cursor_expired"

    def __init__(self, thread_id: str, cursor: int, floor: int) -> None:
        self.floor = floor
        super().__init__(
            f"Cursor {cursor} of thread '{thread_id}' is older than the event retention: events up to {floor} "
            f"are gone. Resume with after={floor} to read what is left."
        )


class PayloadTooLarge(APIError):
    status_code = 413
    code = "payload_too_large"


class UnsupportedMediaType(APIError):
    status_code = 415
    code = "unsupported_media_type"


class ServiceUnavailable(APIError):
    status_code = 503
    code = "unavailable"


def first_problem(exc: ValidationError, whole: str) -> str:
    """`where: what` of a pydantic error's first problem, `whole` naming the value when it is at the top."""
    first = exc.errors(include_url=False)[0]
    where = ".".join(str(part) for part in first["loc"]) or whole
    return f"{where}: {first['msg']}"
