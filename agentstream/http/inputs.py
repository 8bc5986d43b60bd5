"""Reading and validating what clients send. Nothing here writes anything."""

from __future__ import annotations

import difflib
import re
from collections import Counter
from collections.abc import Collection
from typing import Any

from pydantic import BaseModel, ValidationError
from starlette.requests import Request

from ..agent.requests import RunRequest, ToolResultsRequest
from ..exceptions import InvalidRequest, PayloadTooLarge, UnsupportedMediaType
from .jsonbody import parse_json_object

ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def validate_id(value: str, what: str) -> str:
    if not ID_PATTERN.fullmatch(value):
        raise InvalidRequest(
            f"Invalid {what} '{value[:80]}': use 1-64 characters from A-Z, a-z, 0-9, '_' and '-'.",
            code=f"invalid_{what.replace(' ', '_')}",
        )
    return value


async def read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and is_ascii_decimal(declared) and int(declared) > limit:
        raise PayloadTooLarge(f"The request body is {declared} bytes; the limit is {limit}.")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise PayloadTooLarge(f"The request body exceeds the limit of {limit} bytes.")
    return bytes(body)


async def read_run_request(request: Request, *, max_bytes: int, max_message_chars: int) -> RunRequest:
    media_type = _media_type(request)
    if media_type not in ("application/json", "text/plain"):
        raise UnsupportedMediaType(
            f"Content-Type '{media_type or '(none)'}' is not accepted: send application/json or text/plain."
        )
    if media_type == "text/plain":
        data = {"message": await _read_text(request, max_bytes)}
    else:
        data = parse_json_object(await read_body(request, max_bytes))
    if "message" not in data and "messages" not in data and "resume" not in data:
        # Other APIs call it `prompt` or `input`: say which field carries the text here.
        given = f" (the body has {', '.join(repr(k[:40]) for k in data)})" if data else ""
        raise InvalidRequest(
            f"Send the text as 'message' (a string) or 'messages' (a list of AG-UI messages){given}.",
            code="invalid_body",
        )
    try:
        run = RunRequest.model_validate(data)
    except ValidationError as exc:
        raise run_request_error(exc, data) from None
    if run.thread_id is not None:
        validate_id(run.thread_id, "thread id")
    if duplicates := sorted(i for i, n in Counter(run.message_ids).items() if n > 1):
        raise InvalidRequest(
            f"Message ids must be unique; given more than once: {', '.join(d[:128] for d in duplicates)}.",
            code="duplicate_message_id",
        )
    if run.characters > max_message_chars:
        raise PayloadTooLarge(f"The message is {run.characters} characters; the limit is {max_message_chars}.")
    return run


async def read_tool_results(request: Request, *, max_bytes: int) -> ToolResultsRequest:
    if _media_type(request) != "application/json":
        raise UnsupportedMediaType(
            f"Content-Type '{_media_type(request) or '(none)'}' is not accepted: send application/json."
        )
    data = parse_json_object(await read_body(request, max_bytes))
    try:
        return ToolResultsRequest.model_validate(data)
    except ValidationError as exc:
        raise InvalidRequest(describe(exc, ToolResultsRequest), code="invalid_body") from None


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


async def _read_text(request: Request, max_bytes: int) -> str:
    body = await read_body(request, max_bytes)
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidRequest("The request body is not valid UTF-8.", code="invalid_body") from None


def describe(exc: ValidationError, model: type[BaseModel] | None = None) -> str:
    """A request's first validation problem, as its error message says it; with `model`, an unknown
    top-level field is answered with the fields the body takes."""
    first = exc.errors()[0]
    where = ".".join(str(part) for part in first["loc"])
    if model is not None and first["type"] == "extra_forbidden" and len(first["loc"]) == 1:
        fields = ", ".join(f"'{name}'" for name in model.model_fields)
        return f"Unknown field '{where[:40]}': the body takes {fields}."
    message = first["msg"].removeprefix("Value error, ")
    return f"{where}: {message}" if where else message


def run_request_error(exc: ValidationError, data: dict[str, Any], *, code: str | None = None) -> InvalidRequest:
    """The 400 for a body that is no RunRequest, its code naming the field at fault unless `code` is given."""
    # A whole-body error of a resume request is about the resume (what it may not be sent with).
    field = next(iter(exc.errors()[0]["loc"]), "resume" if "resume" in data else "")
    code = code or {"tools": "invalid_tools", "resume": "invalid_resume"}.get(str(field), "invalid_body")
    return InvalidRequest(describe(exc, RunRequest), code=code)


def build_run_request(
    thread_id: str,
    messages: list[dict[str, Any]],
    tools: list[Any],
    *,
    max_message_chars: int,
    resume: list[dict[str, Any]] | None = None,
    state: dict[str, Any] | None = None,
    error_code: str | None = None,
) -> RunRequest:
    """A RunRequest for the new messages (or the resume) of a front door that reads its own body shape."""
    data: dict[str, Any] = {"threadId": thread_id, "tools": tools, "state": state}
    data.update({"resume": resume} if resume is not None else {"messages": messages})
    try:
        run_request = RunRequest.model_validate(data)
    except ValidationError as exc:
        raise run_request_error(exc, data, code=error_code) from None
    if run_request.characters > max_message_chars:
        raise PayloadTooLarge(
            f"The new messages are {run_request.characters} characters; the limit is {max_message_chars}."
        )
    return run_request


# The Functions host's key parameter: clients may send it on any route, keyed or not.
HOST_PARAMETERS = ("code",)


def reject_unknown_parameters(request: Request, known: Collection[str]) -> None:
    """Refuse query parameters the route does not take, or takes once and got twice.

    An ignored parameter is a silent wrong answer: `?afterr=90` or Agent Framework's `?cursor=90`
    would replay the thread from its start to a client that believes it resumed.
    """
    accepted = (*known, *HOST_PARAMETERS)
    names = [name for name, _ in request.query_params.multi_items()]
    for name in names:
        if name == "cursor":
            raise InvalidRequest(
                "Unknown query parameter 'cursor': resume with '?after=<event id>' or the 'Last-Event-ID' "
                "header (Agent Framework's ?cursor= maps to ?after=; event ids are the SSE 'id:' values).",
                code="unknown_parameter",
            )
        if name not in accepted:
            guess = difflib.get_close_matches(name, known, n=1)
            hint = f"did you mean '{guess[0]}'? " if guess else ""
            raise InvalidRequest(
                f"Unknown query parameter '{name[:40]}': {hint}this route takes {', '.join(sorted(known))}.",
                code="unknown_parameter",
            )
        if names.count(name) > 1:
            raise InvalidRequest(f"Query parameter '{name}' is given more than once.", code="invalid_query")


def is_ascii_decimal(text: str) -> bool:
    """Only 0-9: `str.isdigit()` also accepts '²', '١' and '１', which `int()` refuses or reads as numbers."""
    return text.isascii() and text.isdigit()


def parse_cursor(request: Request) -> int:
    """The exclusive cursor: Last-Event-ID wins over ?after=; none means the start of the thread."""
    raw = request.headers.get("last-event-id")
    source = "Last-Event-ID"
    if raw is None or not raw.strip():
        raw, source = request.query_params.get("after"), "after"
    if raw is None or not raw.strip():
        return 0
    raw = raw.strip()
    if not is_ascii_decimal(raw) or len(raw) > 18:
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
