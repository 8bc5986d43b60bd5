"""The Vercel AI SDK's chat routes: `useChat` with `DefaultChatTransport` talks to an agent directly.

- `POST /agents/{name}/chat`: the transport's body (`id` = the chat id = the thread id, `messages`
  as UIMessages, `trigger`, `messageId`, and optionally `tools`: client-side tool declarations)
  starts a run with what is new and answers its UI message stream.
- `GET /agents/{name}/chat/{chatId}/stream`: while a run is active, its stream from its start
  (the AI SDK's resume contract, `resume: true`); otherwise 204.
- `POST /agents/{name}/chat/{chatId}/stop`: cancels the active run (202), or 204 when none is.
- `GET /agents/{name}/chat/{chatId}`: the chat's messages as UIMessages, to load a chat.

Client-side tools go the AI SDK way: the run ends with the call (`finishReason: "tool-calls"`);
the client's `addToolOutput` and `sendAutomaticallyWhen` send the output in the next request's
messages, which starts a run that continues the same UIMessage.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from .. import runtime
from ..agent import approvals, reconcile, runs
from ..agent.agents import Agent
from ..agent.reconcile import OrchestrationStatus
from ..agent.requests import RunRequest, ToolDeclaration
from ..agui.stream import read_run
from ..aisdk import stream
from ..aisdk.messages import (
    approval_answers,
    new_messages,
    run_of,
    to_ui_messages,
    trailing_turn,
    turn_calls,
    turn_id,
    turn_parts,
)
from ..config import get_settings
from ..exceptions import (
    AgentMismatch,
    InvalidRequest,
    RunAlreadyActive,
    ThreadNotFound,
    UnsupportedMediaType,
)
from ..log.stores.base import RunStatus, ThreadHead
from .handlers import STREAM_HEADERS, RunSignal, agent_named, caller_endpoint, take_stream_slot
from .inputs import (
    build_run_request,
    describe,
    read_body,
    reject_unknown_parameters,
    validate_id,
)
from .jsonbody import parse_json_object
from .slots import SlotStreamingResponse

logger = logging.getLogger(__name__)


class UIMessageInput(BaseModel):
    """A UIMessage as the client holds it; its parts are read by `aisdk.messages`."""

    model_config = ConfigDict(extra="allow")

    id: str = Field(min_length=1, max_length=128)
    role: Literal["system", "user", "assistant"]
    parts: list[dict[str, Any]]


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    id: str
    messages: list[UIMessageInput] = Field(min_length=1)
    trigger: Literal["submit-message", "regenerate-message"] = "submit-message"
    message_id: str | None = Field(default=None, alias="messageId")
    tools: list[ToolDeclaration] = Field(default_factory=list, max_length=128)


async def read_chat_request(request: Request, *, max_bytes: int) -> ChatRequest:
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "application/json":
        raise UnsupportedMediaType(f"Content-Type '{media_type or '(none)'}' is not accepted: send application/json.")
    data = parse_json_object(await read_body(request, max_bytes), what="a JSON object (useChat's request body)")
    try:
        chat = ChatRequest.model_validate(data)
    except ValidationError as exc:
        code = "invalid_tools" if exc.errors()[0]["loc"][:1] == ("tools",) else "invalid_body"
        raise InvalidRequest(describe(exc), code=code) from None
    validate_id(chat.id, "chat id")
    if chat.trigger == "regenerate-message":
        raise InvalidRequest(
            "Regenerating a message is not supported: a thread's log is append-only. Send a new message.",
            code="unsupported_trigger",
        )
    return chat


@caller_endpoint
async def chat(
    request: Request,
    start_orchestration: runs.OrchestrationStarter,
    orchestration_status: OrchestrationStatus,
    agent_name: str,
) -> Response:
    """POST /agents/{agent_name}/chat."""
    reject_unknown_parameters(request, ())
    agent = agent_named(agent_name)
    settings = get_settings()
    body = await read_chat_request(request, max_bytes=settings.max_request_bytes)
    store = runtime.get_store()
    head = await _live_head(body.id, agent, orchestration_status)
    if head is not None and head.active_run_id is not None:
        raise RunAlreadyActive(body.id, head.active_run_id)
    stored = await store.get_messages(body.id) if head is not None else []
    client_messages = [m.model_dump() for m in body.messages]
    thread = await store.get_thread(body.id) if head else None
    waiting = [item.interrupt["id"] for item in await approvals.open_interrupts(store, thread)]
    if resume := approval_answers(client_messages, waiting):
        # The client answered the tool calls waiting for approval: the interrupted turn continues.
        run_request = build_run_request(
            body.id,
            [],
            body.tools,
            max_message_chars=settings.max_message_chars,
            resume=resume,
            error_code="invalid_messages",
        )
        return await _start(run_request, agent, start_orchestration, orchestration_status, trailing_turn(stored))
    fresh = new_messages(client_messages, stored, agent.registry)
    if not fresh:
        raise InvalidRequest(
            "The messages hold nothing the chat does not have: send a new user message or tool outputs "
            "(editing or regenerating a sent message is not supported).",
            code="nothing_to_answer",
        )
    run_request = build_run_request(
        body.id, fresh, body.tools, max_message_chars=settings.max_message_chars, error_code="invalid_messages"
    )
    # Tool outputs continue the client's assistant UIMessage; a user message begins a new one.
    return await _start(run_request, agent, start_orchestration, orchestration_status, trailing_turn(stored + fresh))


async def _start(
    run_request: RunRequest,
    agent: Agent,
    start_orchestration: runs.OrchestrationStarter,
    orchestration_status: OrchestrationStatus,
    turn: list[dict[str, Any]],
) -> Response:
    """Start the run and answer its stream; `turn` is the agent turn it continues (empty for a new one)."""
    release = take_stream_slot()
    try:
        started = await runs.start_run(
            run_request,
            agent,
            start_orchestration,
            orchestration_status=orchestration_status,
            client_tools="finish",
            create_thread=True,
        )
        message_id = turn_id(turn) if turn else started.run_id
        projection = stream.UIMessageProjection(started.run_id, message_id, continued_calls=turn_calls(turn))
        frames = stream.ui_message_frames(
            runtime.get_hub(), started.thread_id, projection, after=started.first_seq - 1, prelude=[]
        )
        return _stream_response(frames, started.thread_id, started.run_id, release)
    except BaseException:
        release()
        raise


@caller_endpoint
async def resume_stream(
    request: Request, chat_id: str, agent_name: str, orchestration_status: OrchestrationStatus
) -> Response:
    """GET /agents/{agent_name}/chat/{chat_id}/stream: the active run from its start, or 204."""
    reject_unknown_parameters(request, ())
    agent = agent_named(agent_name)
    validate_id(chat_id, "chat id")
    store = runtime.get_store()
    head = await _live_head(chat_id, agent, orchestration_status)
    run = await store.get_run(chat_id, head.active_run_id) if head and head.active_run_id else None
    if run is None:
        return Response(status_code=204, headers={"x-thread-id": chat_id})
    release = take_stream_slot()
    try:
        stored = await store.get_messages(chat_id)
        backlog, _ = await read_run(store, chat_id, run.run_id, run.start_seq)
        made_here = {e.body()["toolCallId"] for e in backlog if e.type == "TOOL_CALL_START"}
        before = [
            m
            for m in stored
            if run_of(m["id"]) != run.run_id and not (m["role"] == "tool" and m["toolCallId"] in made_here)
        ]
        turn = trailing_turn(before)
        # A replay restarts the client's message from scratch: the earlier runs' share of it comes first.
        prelude = stream.turn_chunks(turn_parts(turn)) if turn else []
        projection = stream.UIMessageProjection(
            run.run_id, turn_id(turn) if turn else run.run_id, continued_calls=turn_calls(turn)
        )
        frames = stream.ui_message_frames(
            runtime.get_hub(), chat_id, projection, after=run.start_seq - 1, prelude=prelude
        )
        return _stream_response(frames, chat_id, run.run_id, release)
    except BaseException:
        release()
        raise


@caller_endpoint
async def stop(
    request: Request,
    chat_id: str,
    agent_name: str,
    signal_cancel: RunSignal,
    orchestration_status: OrchestrationStatus,
) -> Response:
    """POST /agents/{agent_name}/chat/{chat_id}/stop: cancel the active run (202), or 204 when none is."""
    reject_unknown_parameters(request, ())
    agent = agent_named(agent_name)
    validate_id(chat_id, "chat id")
    head = await _live_head(chat_id, agent, orchestration_status)
    if head is None or head.active_run_id is None:
        return Response(status_code=204, headers={"x-thread-id": chat_id})
    run_id = head.active_run_id
    run = await runtime.get_store().request_cancel(chat_id, run_id)
    if run is None or run.status is not RunStatus.RUNNING:
        return Response(status_code=204, headers={"x-thread-id": chat_id})
    try:
        await signal_cancel(chat_id, run_id)
    except Exception:
        # The flag is set: the run's next write is refused and it winds down by itself.
        logger.warning("Could not signal the cancellation of run %s", run_id, exc_info=True)
    return JSONResponse({"chat_id": chat_id, "run_id": run_id, "status": "cancelling"}, status_code=202)


@caller_endpoint
async def get_chat(request: Request, chat_id: str, agent_name: str) -> Response:
    """GET /agents/{agent_name}/chat/{chat_id}: the conversation as UIMessages."""
    reject_unknown_parameters(request, ())
    agent = agent_named(agent_name)
    validate_id(chat_id, "chat id")
    head = await _owned_head(chat_id, agent)
    if head is None:
        raise ThreadNotFound(chat_id)
    store = runtime.get_store()
    messages = await store.get_messages(chat_id)
    interrupts = await approvals.open_interrupts(store, await store.get_thread(chat_id))
    waiting = {item.call["id"]: item.interrupt["id"] for item in interrupts}
    return JSONResponse(
        {"id": chat_id, "messages": to_ui_messages(messages, waiting), "active_run_id": head.active_run_id},
        headers={"x-thread-id": chat_id},
    )


async def _owned_head(chat_id: str, agent: Agent) -> ThreadHead | None:
    head = await runtime.get_store().head(chat_id)
    if head is not None and head.agent is not None and head.agent != agent.name:
        raise AgentMismatch(chat_id, head.agent, agent.name)
    return head


async def _live_head(chat_id: str, agent: Agent, orchestration_status: OrchestrationStatus) -> ThreadHead | None:
    """The chat's head, after ending an active run that lost its orchestration (it would never end)."""
    head = await _owned_head(chat_id, agent)
    if head is not None and head.active_run_id is not None:
        store = runtime.get_store()
        if await reconcile.reconcile_run(store, chat_id, head.active_run_id, orchestration_status):
            head = await store.head(chat_id)
    return head


def _stream_response(frames: AsyncIterator[str], chat_id: str, run_id: str, release: Callable[[], None]) -> Response:
    headers = {**STREAM_HEADERS, **stream.HEADERS, "x-thread-id": chat_id, "x-run-id": run_id}
    return SlotStreamingResponse(frames, media_type="text/event-stream", headers=headers, release=release)
