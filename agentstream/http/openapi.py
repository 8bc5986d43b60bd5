"""The OpenAPI 3.1 document of the HTTP API, served at `GET /api/openapi.json` and kept in docs/openapi.json.

Request bodies are the JSON schemas of the pydantic models that validate them (`RunRequest`,
`ToolResultsRequest`, AG-UI's `RunAgentInput`), so the document cannot drift from what is accepted.
Answers are described by the models below, which mirror what the handlers return. Paths are relative
to the server URL `/api` (the route prefix of host.json).

`make openapi` writes docs/openapi.json (`python -m agentstream.http.openapi` prints it).
"""

from __future__ import annotations

import functools
import json
from typing import Any, Literal

from ag_ui.core import RunAgentInput
from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import models_json_schema
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ..agent.requests import RunRequest, ToolResultsRequest
from ..log.stores.base import RunStatus
from .ai_sdk import ChatRequest
from .handlers import api_endpoint
from .inputs import ID_PATTERN

SERVER_PREFIX = "/api"
_REF = "#/components/schemas/{model}"


class ErrorDetail(BaseModel):
    code: str = Field(description="Stable, machine-readable: e.g. invalid_body, thread_not_found, run_active.")
    message: str = Field(description="What went wrong and what to do next, for people.")


class Error(BaseModel):
    """Every refusal: 4xx for the request, 503 when shedding load (with Retry-After)."""

    error: ErrorDetail


class RunStarted(BaseModel):
    thread_id: str
    run_id: str
    stream_url: str = Field(description="The run's SSE stream (with its stream token when auth is on).")
    status_url: str
    cancel_url: str
    tool_results_url: str
    stream_token: str | None = Field(default=None, description="Present when the app signs stream tokens.")


class RunSummary(BaseModel):
    run_id: str
    status: RunStatus
    created_at: str | None
    finished_at: str | None
    first_event_id: int
    last_event_id: int | None
    usage: list[dict[str, int]] = Field(description="AG-UI TokenUsage entries, as RUN_FINISHED carries them.")
    error: dict[str, Any] | None
    active: bool


class ThreadStatus(BaseModel):
    thread_id: str
    agent: str | None = Field(description="The agent the thread belongs to (null for threads older than agents).")
    created_at: str | None
    updated_at: str | None
    last_event_id: int
    active_run_id: str | None
    runs: list[RunSummary]
    messages: list[dict[str, Any]] = Field(description="The thread's messages, AG-UI shape (camelCase).")
    interrupts: list[dict[str, Any]] = Field(
        description="AG-UI interrupts the thread waits on: tool calls waiting for approval (answer with resume)."
    )
    state: dict[str, Any] | None = Field(description="The thread's shared state; null when it has none.")


class CancelResult(BaseModel):
    thread_id: str
    run_id: str
    status: Literal["cancelling", "cancelled"]


class ToolResultsAccepted(BaseModel):
    thread_id: str
    run_id: str
    accepted: list[str] = Field(description="The tool call ids whose results were committed.")


class StoreHealth(BaseModel):
    backend: str
    reachable: bool
    error: str | None = None


class Health(BaseModel):
    status: Literal["ok", "unavailable"]
    store: StoreHealth


class AgentTool(BaseModel):
    name: str
    description: str
    parameters: dict[str, Any] = Field(description="The tool's arguments as a JSON schema.")


class AgentInfo(BaseModel):
    name: str
    description: str
    tools: list[AgentTool]


class ChatMessages(BaseModel):
    id: str = Field(description="The chat id (the thread id).")
    messages: list[dict[str, Any]] = Field(description="The conversation as the AI SDK's UIMessages.")
    active_run_id: str | None


class ChatStopping(BaseModel):
    chat_id: str
    run_id: str
    status: Literal["cancelling"]


class AgentList(BaseModel):
    model_config = ConfigDict(title="AgentList")

    agents: list[AgentInfo]


_MODELS: list[type[BaseModel]] = [
    RunRequest,
    ToolResultsRequest,
    RunAgentInput,
    Error,
    RunStarted,
    ThreadStatus,
    CancelResult,
    ToolResultsAccepted,
    Health,
    AgentList,
    ChatRequest,
    ChatMessages,
    ChatStopping,
]


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": _REF.format(model=model.__name__)}


def _json(model: type[BaseModel], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ref(model)}}}


_TEXT = {"schema": {"type": "string"}}


def _sse(*, with_ids: bool) -> dict[str, Any]:
    """Server-Sent Events: as OpenAPI 3.1 reads it, the schema describes one event, not the whole stream.

    No frame has an `event:` field, so every event is a "message"; `data` is one AG-UI event as JSON.
    """
    event: dict[str, Any] = {
        "type": "object",
        "required": ["data", "event", *(["id"] if with_ids else [])],
        "properties": {
            "id": {"type": "string", "pattern": "^[0-9]+$", "description": "The event's seq: the resume cursor."},
            "event": {"const": "message"},
            "data": {
                "type": "string",
                "contentMediaType": "application/json",
                "contentSchema": {"type": "object", "required": ["type"]},
            },
            "retry": {"type": "integer"},
        },
    }
    if not with_ids:
        event["properties"].pop("id")
    return {"schema": event}


# The Vercel AI SDK's UI message stream: `data:` frames of JSON chunks, the last one `[DONE]`.
_UI_MESSAGE_CHUNKS = {
    "schema": {
        "type": "object",
        "required": ["data", "event"],
        "properties": {
            "event": {"const": "message"},
            "data": {"type": "string", "description": "A UI message stream chunk as JSON, or `[DONE]` last."},
        },
    }
}
_UI_MESSAGE_STREAM = {
    "description": "The run as the AI SDK's UI message stream (header `x-vercel-ai-ui-message-stream: v1`).",
    "headers": {"x-vercel-ai-ui-message-stream": {"schema": {"const": "v1"}}},
    "content": {"text/event-stream": _UI_MESSAGE_CHUNKS},
}
_LOG_EVENTS = _sse(with_ids=True)
_AGUI_EVENTS = _sse(with_ids=False)
_ID_SCHEMA = {"type": "string", "pattern": ID_PATTERN.pattern}
_ERRORS = {"default": _json(Error, 'A refusal: `{"error": {"code", "message"}}` with the status it names.')}
_CALLER_SECURITY: list[dict[str, list[str]]] = [{}, {"functionKey": []}, {"functionKeyQuery": []}]
_READER_SECURITY: list[dict[str, list[str]]] = [{}, {"streamToken": []}]


def _path_id(name: str, description: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "description": description, "schema": _ID_SCHEMA}


def _query(name: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "description": description, "schema": schema}


_THREAD = _path_id("thread_id", "The thread.")
_RUN = _path_id("run_id", "A run of the thread.")
_CHAT = _path_id("chat_id", "The chat: the thread's id.")
_AGENT = {"name": "name", "in": "path", "required": True, "description": "An agent's name.", "schema": _ID_SCHEMA}
_FLAG = {"type": "string", "enum": ["0", "1", "true", "false", "yes", "no"]}
_CURSOR = {"type": "string", "pattern": "^[0-9]{1,18}$"}


# Where a started run leads: schemathesis follows these links in its stateful run.
_RUN_LINKS = {
    "GetThread": {"operationId": "getThread", "parameters": {"thread_id": "$response.body#/thread_id"}},
    "StreamThread": {"operationId": "streamThread", "parameters": {"thread_id": "$response.body#/thread_id"}},
    "CancelRun": {
        "operationId": "cancelRun",
        "parameters": {"thread_id": "$response.body#/thread_id", "run_id": "$response.body#/run_id"},
    },
    "SubmitToolResults": {
        "operationId": "submitToolResults",
        "parameters": {"thread_id": "$response.body#/thread_id", "run_id": "$response.body#/run_id"},
    },
}


def _start_operation(operation_id: str, summary: str, *, body: dict[str, Any], agent: bool) -> dict[str, Any]:
    return {
        "operationId": operation_id,
        "summary": summary,
        "parameters": [_AGENT] if agent else [],
        "security": _CALLER_SECURITY,
        "requestBody": {"required": True, "content": body},
        "responses": {
            "202": {
                **_json(RunStarted, "The run started; read it at `stream_url`."),
                "headers": {"Location": {"description": "The stream URL.", "schema": {"type": "string"}}},
                "links": _RUN_LINKS,
            },
            "200": {
                "description": "With `Accept: text/event-stream` (or `text/plain`): the run's stream itself.",
                "content": {"text/event-stream": _LOG_EVENTS, "text/plain": _TEXT},
            },
            **_ERRORS,
        },
    }


def _agui_operation(operation_id: str, summary: str, *, agent: bool) -> dict[str, Any]:
    return {
        "operationId": operation_id,
        "summary": summary,
        "parameters": [_AGENT] if agent else [],
        "security": _CALLER_SECURITY,
        "requestBody": {"required": True, "content": {"application/json": {"schema": _ref(RunAgentInput)}}},
        "responses": {
            "200": {"description": "An AG-UI event stream.", "content": {"text/event-stream": _AGUI_EVENTS}},
            **_ERRORS,
        },
    }


def _paths() -> dict[str, Any]:
    run_body = {
        "application/json": {"schema": _ref(RunRequest)},
        "text/plain": {"schema": {"type": "string", "minLength": 1}},
    }
    return {
        "/agent/run": {"post": _start_operation("startRun", "Start a run", body=run_body, agent=False)},
        "/agent/stream/{thread_id}": {
            "get": {
                "operationId": "streamThread",
                "summary": "The thread's events as Server-Sent Events, resumable from any event id",
                "security": _READER_SECURITY,
                "parameters": [
                    _THREAD,
                    _query("after", "Exclusive cursor: the last event id seen (0: from the start).", _CURSOR),
                    {
                        "name": "Last-Event-ID",
                        "in": "header",
                        "required": False,
                        "description": "As `after`; wins over it.",
                        "schema": _CURSOR,
                    },
                    _query("run_id", "Only this run's events; ends with the run.", _ID_SCHEMA),
                    _query("follow", "Stay open across runs.", _FLAG),
                ],
                "responses": {
                    "200": {
                        "description": "SSE frames `id: <seq>` / `data: <AG-UI event JSON>`; `Accept: text/plain` "
                        "gives the assistant's text only.",
                        "content": {"text/event-stream": _LOG_EVENTS, "text/plain": _TEXT},
                    },
                    "204": {"description": "Caught up on an idle thread (or the run is over): nothing to send."},
                    **_ERRORS,
                },
            }
        },
        "/agent/threads/{thread_id}": {
            "get": {
                "operationId": "getThread",
                "summary": "Thread status: runs, last event id, messages",
                "security": _READER_SECURITY,
                "parameters": [_THREAD],
                "responses": {"200": _json(ThreadStatus, "The thread."), **_ERRORS},
            }
        },
        "/agent/threads/{thread_id}/runs/{run_id}/cancel": {
            "post": {
                "operationId": "cancelRun",
                "summary": "Cancel a run (idempotent)",
                "security": _CALLER_SECURITY,
                "parameters": [_THREAD, _RUN],
                "responses": {
                    "202": _json(CancelResult, "The run is winding down."),
                    "200": _json(CancelResult, "The run already ended cancelled."),
                    **_ERRORS,
                },
            }
        },
        "/agent/threads/{thread_id}/runs/{run_id}/tool-results": {
            "post": {
                "operationId": "submitToolResults",
                "summary": "Results of client-side tool calls; the waiting run continues",
                "security": _CALLER_SECURITY,
                "parameters": [_THREAD, _RUN],
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _ref(ToolResultsRequest)}},
                },
                "responses": {"202": _json(ToolResultsAccepted, "The results are committed."), **_ERRORS},
            }
        },
        "/agent/ag-ui": {"post": _agui_operation("runAgui", "AG-UI endpoint (the first agent)", agent=False)},
        "/agents": {
            "get": {
                "operationId": "listAgents",
                "summary": "Every agent, with its tools and their JSON schemas",
                "responses": {"200": _json(AgentList, "The agents."), **_ERRORS},
            }
        },
        "/agents/{name}/run": {
            "post": _start_operation("startAgentRun", "Start a run of an agent", body=run_body, agent=True)
        },
        "/agents/{name}/ag-ui": {"post": _agui_operation("runAgentAgui", "AG-UI endpoint of an agent", agent=True)},
        "/agents/{name}/chat": {
            "post": {
                "operationId": "chat",
                "summary": "Vercel AI SDK chat (useChat's request body): start a run with what is new, stream it",
                "parameters": [_AGENT],
                "security": _CALLER_SECURITY,
                "requestBody": {"required": True, "content": {"application/json": {"schema": _ref(ChatRequest)}}},
                "responses": {"200": _UI_MESSAGE_STREAM, **_ERRORS},
            }
        },
        "/agents/{name}/chat/{chat_id}": {
            "get": {
                "operationId": "getChat",
                "summary": "The chat's messages as UIMessages",
                "parameters": [_AGENT, _CHAT],
                "security": _CALLER_SECURITY,
                "responses": {"200": _json(ChatMessages, "The chat."), **_ERRORS},
            }
        },
        "/agents/{name}/chat/{chat_id}/stream": {
            "get": {
                "operationId": "resumeChat",
                "summary": "Resume (AI SDK `resume: true`): the active run's stream from its start",
                "parameters": [_AGENT, _CHAT],
                "security": _CALLER_SECURITY,
                "responses": {
                    "200": _UI_MESSAGE_STREAM,
                    "204": {"description": "No run is active: nothing to resume."},
                    **_ERRORS,
                },
            }
        },
        "/agents/{name}/chat/{chat_id}/stop": {
            "post": {
                "operationId": "stopChat",
                "summary": "Cancel the chat's active run",
                "parameters": [_AGENT, _CHAT],
                "security": _CALLER_SECURITY,
                "responses": {
                    "202": _json(ChatStopping, "The run is winding down."),
                    "204": {"description": "No run is active: nothing to stop."},
                    **_ERRORS,
                },
            }
        },
        "/openapi.json": {
            "get": {
                "operationId": "getOpenAPI",
                "summary": "This document",
                "responses": {
                    "200": {"description": "OpenAPI 3.1.", "content": {"application/json": {"schema": {}}}},
                    **_ERRORS,
                },
            }
        },
        "/health": {
            "get": {
                "operationId": "getHealth",
                "summary": "Liveness and the store's reachability",
                "responses": {
                    "200": _json(Health, "Up, and the store answers."),
                    "503": {
                        **_json(Health, "The store does not answer."),
                        "headers": {"Retry-After": {"schema": {"type": "string"}}},
                    },
                    **_ERRORS,
                },
            }
        },
    }


@functools.cache
def openapi_document() -> dict[str, Any]:
    _, schemas = models_json_schema([(model, "validation") for model in _MODELS], ref_template=_REF)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "agentstream",
            "version": "1",
            "description": "Reliable, resumable streaming for LLM agents. Errors are "
            '`{"error": {"code", "message"}}`; a refused request writes nothing.',
        },
        "servers": [{"url": SERVER_PREFIX}],
        "paths": _paths(),
        "components": {
            "schemas": schemas["$defs"],
            "securitySchemes": {
                "functionKey": {"type": "apiKey", "in": "header", "name": "x-functions-key"},
                "functionKeyQuery": {"type": "apiKey", "in": "query", "name": "code"},
                "streamToken": {"type": "apiKey", "in": "query", "name": "access_token"},
            },
        },
    }


@api_endpoint
async def serve_openapi(request: Request) -> Response:
    return JSONResponse(openapi_document())


def render() -> str:
    """The document as docs/openapi.json holds it."""
    return json.dumps(openapi_document(), indent=2, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    print(render(), end="")
