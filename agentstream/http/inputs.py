"""Reading and validating what clients send. Nothing here writes anything."""

from __future__ import annotations

import difflib
import json
import re
from collections import Counter
from collections.abc import Collection
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from starlette.requests import Request

from ..approvals import ResumeEntry
from ..exceptions import InvalidRequest, PayloadTooLarge, UnsupportedMediaType
from ..tools import TOOL_NAME
from .jsonbody import parse_json_object

ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def validate_id(value: str, what: str) -> str:
    if not ID_PATTERN.fullmatch(value):
        raise InvalidRequest(
            f"Invalid {what} '{value[:80]}': use 1-64 characters from A-Z, a-z, 0-9, '_' and '-'.",
            code=f"invalid_{what.replace(' ', '_')}",
        )
    return value


_JSON_SCHEMA_TYPES = {"object", "array", "string", "number", "integer", "boolean", "null"}


class InputFunctionCall(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    arguments: str


class InputToolCall(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=128)
    type: Literal["function"] = "function"
    function: InputFunctionCall


class InputMessage(BaseModel):
    """One message of a run request, in the AG-UI message shape (camelCase or snake_case)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    role: Literal["user", "system", "developer", "assistant", "tool"]
    content: str | None = None
    id: str | None = Field(default=None, min_length=1, max_length=128)
    tool_calls: list[InputToolCall] | None = Field(default=None, alias="toolCalls")
    tool_call_id: str | None = Field(default=None, alias="toolCallId", min_length=1, max_length=128)
    error: str | None = None

    @model_validator(mode="after")
    def _fits_its_role(self) -> InputMessage:
        if self.role == "tool":
            if self.tool_call_id is None or self.content is None:
                raise ValueError("a tool message needs 'toolCallId' and 'content'")
        elif self.tool_call_id is not None or self.error is not None:
            raise ValueError(f"'toolCallId' and 'error' belong to tool messages, not {self.role} messages")
        if self.role == "assistant":
            if not self.content and not self.tool_calls:
                raise ValueError("an assistant message needs 'content' or 'toolCalls'")
        elif self.tool_calls is not None:
            raise ValueError(f"'toolCalls' belong to assistant messages, not {self.role} messages")
        elif self.role != "tool" and not (self.content or "").strip():
            raise ValueError(f"a {self.role} message needs non-empty 'content'")
        return self

    @property
    def characters(self) -> int:
        calls = sum(len(c.function.arguments) for c in self.tool_calls or [])
        return len(self.content or "") + calls

    def to_message(self, message_id: str) -> dict[str, Any]:
        """The stored AG-UI message (camelCase)."""
        message: dict[str, Any] = {"id": message_id, "role": self.role}
        if self.content is not None:
            message["content"] = self.content
        if self.tool_calls:
            message["toolCalls"] = [c.model_dump() for c in self.tool_calls]
        if self.tool_call_id is not None:
            message["toolCallId"] = self.tool_call_id
        if self.error is not None:
            message["error"] = self.error
        return message


class ToolDeclaration(BaseModel):
    """A client-side tool (AG-UI tool shape): the model may call it, the client runs it."""

    model_config = ConfigDict(extra="forbid")

    name: str
    description: str = Field(max_length=4096)
    parameters: dict[str, Any] = Field(default_factory=lambda: {"type": "object", "properties": {}})
    metadata: dict[str, Any] | None = None

    @field_validator("name")
    @classmethod
    def _name_is_a_function_name(cls, value: str) -> str:
        if not TOOL_NAME.fullmatch(value):
            raise ValueError(f"tool name '{value[:80]}' must be 1-64 characters from A-Z, a-z, 0-9, '_' and '-'")
        return value

    @field_validator("parameters")
    @classmethod
    def _parameters_are_an_object_schema(cls, value: dict[str, Any]) -> dict[str, Any]:
        if value.get("type") != "object":
            raise ValueError('\'parameters\' must be a JSON schema with "type": "object"')
        properties = value.get("properties", {})
        if not isinstance(properties, dict) or not all(isinstance(p, dict) for p in properties.values()):
            raise ValueError("'parameters.properties' must map each argument name to a JSON schema object")
        for name, schema in properties.items():
            kind = schema.get("type")
            kinds = kind if isinstance(kind, list) else [kind] if kind is not None else []
            if any(k not in _JSON_SCHEMA_TYPES for k in kinds):
                raise ValueError(f"'parameters.properties.{name}.type' is not a JSON schema type: {kind!r}")
        required = value.get("required", [])
        if not isinstance(required, list) or any(r not in properties for r in required):
            raise ValueError("'parameters.required' must list names from 'parameters.properties'")
        return value

    def spec(self) -> dict[str, Any]:
        return {"name": self.name, "description": self.description, "parameters": self.parameters}


class RunRequest(BaseModel):
    """Body of POST /api/agent/run."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    message: str | None = None
    messages: list[InputMessage] | None = None
    thread_id: str | None = Field(default=None, alias="threadId")
    tools: list[ToolDeclaration] = Field(default_factory=list, max_length=128)
    #: Answers to the thread's open interrupts (tool calls waiting for approval).
    resume: list[ResumeEntry] | None = Field(default=None, min_length=1, max_length=128)
    #: The thread's shared state from now on (a JSON object); absent or empty keeps the thread's.
    state: dict[str, Any] | None = None
    #: What this message does if a run of the thread is active; absent: the agent's strategy.
    multitask_strategy: Literal["reject", "enqueue", "interrupt"] | None = None

    @field_validator("message")
    @classmethod
    def _message_not_blank(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("message must not be empty")
        return value

    @field_validator("tools")
    @classmethod
    def _tool_names_unique(cls, value: list[ToolDeclaration]) -> list[ToolDeclaration]:
        names = [tool.name for tool in value]
        if duplicates := sorted({n for n in names if names.count(n) > 1}):
            raise ValueError(f"tool names must be unique; declared more than once: {', '.join(duplicates)}")
        return value

    @model_validator(mode="after")
    def _one_input(self) -> RunRequest:
        if self.resume is not None:
            if self.thread_id is None:
                raise ValueError("'resume' answers the interrupts of a thread: give its 'thread_id'")
            if self.message is not None or self.messages is not None:
                raise ValueError("a 'resume' run takes no 'message' or 'messages': send them after it")
            return self
        if (self.message is None) == (self.messages is None):
            raise ValueError("give exactly one of 'message' (a string) or 'messages' (a list)")
        if self.messages is not None and (not self.messages or self.messages[-1].role not in ("user", "tool")):
            raise ValueError("'messages' must be a non-empty list ending with a user or tool message")
        return self

    @property
    def message_ids(self) -> list[str]:
        """The ids the client chose for its messages (the others get fresh ones)."""
        return [m.id for m in self.messages or [] if m.id is not None]

    @property
    def characters(self) -> int:
        if self.message is not None:
            return len(self.message)
        return sum(m.characters for m in self.messages or [])

    def input_messages(self, run_id: str) -> list[dict[str, Any]]:
        if self.resume is not None:
            return []
        if self.message is not None:
            return [{"id": f"{run_id}.user", "role": "user", "content": self.message}]
        assert self.messages is not None
        return [m.to_message(m.id or f"{run_id}.in{i}") for i, m in enumerate(self.messages)]


class ToolResult(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    tool_call_id: str = Field(alias="toolCallId", min_length=1, max_length=128)
    content: Any
    error: str | None = None

    @property
    def text(self) -> str:
        """What the model reads: a string as it is, anything else as JSON."""
        return self.content if isinstance(self.content, str) else json.dumps(self.content, ensure_ascii=False)


class ToolResultsRequest(BaseModel):
    """Body of POST /api/agent/threads/{thread_id}/runs/{run_id}/tool-results."""

    model_config = ConfigDict(extra="forbid")

    results: list[ToolResult] = Field(min_length=1, max_length=128)

    @field_validator("results")
    @classmethod
    def _one_result_per_call(cls, value: list[ToolResult]) -> list[ToolResult]:
        ids = [r.tool_call_id for r in value]
        if duplicates := sorted({i for i in ids if ids.count(i) > 1}):
            raise ValueError(f"one result per tool call; given more than once: {', '.join(duplicates)}")
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
