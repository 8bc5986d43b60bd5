"""Reading and validating what clients send. Nothing here writes anything."""

from __future__ import annotations

import json
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from starlette.requests import Request

from ..exceptions import InvalidRequest, PayloadTooLarge, UnsupportedMediaType

ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def validate_id(value: str, what: str) -> str:
    if not ID_PATTERN.fullmatch(value):
        raise InvalidRequest(
            f"Invalid {what} '{value[:80]}': use 1-64 characters from A-Z, a-z, 0-9, '_' and '-'.",
            code=f"invalid_{what.replace(' ', '_')}",
        )
    return value


class InputMessage(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    role: Literal["user", "system", "developer", "assistant"]
    content: str = Field(min_length=1)
    id: str | None = None


class RunRequest(BaseModel):
    """Body of POST /api/agent/run."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    message: str | None = None
    messages: list[InputMessage] | None = None
    thread_id: str | None = Field(default=None, alias="threadId")

    @field_validator("message")
    @classmethod
    def _message_not_blank(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("message must not be empty")
        return value

    @model_validator(mode="after")
    def _one_input(self) -> RunRequest:
        if (self.message is None) == (self.messages is None):
            raise ValueError("give exactly one of 'message' (a string) or 'messages' (a list)")
        if self.messages is not None and (not self.messages or self.messages[-1].role != "user"):
            raise ValueError("'messages' must be a non-empty list ending with a user message")
        return self

    @property
    def characters(self) -> int:
        if self.message is not None:
            return len(self.message)
        return sum(len(m.content) for m in self.messages or [])

    def input_messages(self, run_id: str) -> list[dict[str, Any]]:
        if self.message is not None:
            return [{"id": f"{run_id}.user", "role": "user", "content": self.message}]
        assert self.messages is not None
        return [
            {"id": m.id or f"{run_id}.in{i}", "role": m.role, "content": m.content} for i, m in enumerate(self.messages)
        ]


async def read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"The request body is {declared} bytes; the limit is {limit}.")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise PayloadTooLarge(f"The request body exceeds the limit of {limit} bytes.")
    return bytes(body)


async def read_run_request(request: Request, *, max_bytes: int, max_message_chars: int) -> RunRequest:
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type not in ("application/json", "text/plain"):
        raise UnsupportedMediaType(
            f"Content-Type '{media_type or '(none)'}' is not accepted: send application/json or text/plain."
        )
    body = await read_body(request, max_bytes)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidRequest("The request body is not valid UTF-8.", code="invalid_body") from None
    if media_type == "text/plain":
        data: Any = {"message": text}
    else:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InvalidRequest(
                f"The request body is not valid JSON: {exc.msg} at position {exc.pos}.", code="invalid_json"
            ) from None
        if not isinstance(data, dict):
            raise InvalidRequest("The request body must be a JSON object.", code="invalid_body")
    try:
        run = RunRequest.model_validate(data)
    except ValidationError as exc:
        raise InvalidRequest(_describe(exc), code="invalid_body") from None
    if run.thread_id is not None:
        validate_id(run.thread_id, "thread id")
    if run.characters > max_message_chars:
        raise PayloadTooLarge(f"The message is {run.characters} characters; the limit is {max_message_chars}.")
    return run


def _describe(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(part) for part in first["loc"])
    message = first["msg"].removeprefix("Value error, ")
    return f"{where}: {message}" if where else message


def parse_cursor(request: Request) -> int:
    """The exclusive cursor: Last-Event-ID wins over ?after=; none means the start of the thread."""
    raw = request.headers.get("last-event-id")
    source = "Last-Event-ID"
    if raw is None or not raw.strip():
        raw, source = request.query_params.get("after"), "after"
    if raw is None or not raw.strip():
        return 0
    raw = raw.strip()
    if not raw.isdigit() or len(raw) > 18:
        raise InvalidRequest(
            f"{source} '{raw[:40]}' is not an event id (a non-negative integer).", code="invalid_cursor"
        )
    return int(raw)


def parse_flag(request: Request, name: str) -> bool:
    value = request.query_params.get(name, "").strip().lower()
    if value in ("", "0", "false", "no"):
        return False
    if value in ("1", "true", "yes"):
        return True
    raise InvalidRequest(f"Query parameter '{name}' must be 1 or 0, not '{value[:20]}'.", code="invalid_query")


def preferred_media_type(accept: str, offers: tuple[str, ...]) -> str:
    """The offer the Accept header ranks highest; the first offer when none is named explicitly.

    Wildcards never pick a streaming type: `Accept: application/json, text/plain, */*` (axios'
    default) must get the JSON answer, not a stream.
    """
    best, best_q = offers[0], 0.0
    for index, item in enumerate(accept.split(",")):
        media_type, *params = (part.strip() for part in item.split(";"))
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        # Earlier entries win ties: nudge by position.
        score = q - index * 1e-6
        if media_type.lower() in offers and score > best_q:
            best, best_q = media_type.lower(), score
    return best
