"""The run request and tool results a client sends, as the agent takes them.

The HTTP front doors read bodies into these; the run itself depends only on this module, never on HTTP.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from .approvals import ResumeEntry
from .tools import TOOL_NAME

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
