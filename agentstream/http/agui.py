"""POST /api/agent/ag-ui: the AG-UI endpoint. A `RunAgentInput` in, an AG-UI event stream out.

- New messages (see `agui.messages` for how they are told apart) start a run on the thread,
  creating the thread under the client's `threadId` when it is new.
- No new messages join the thread's running run (hydration), or replay the conversation of an
  idle thread as a run that changes nothing.
- Bad input is refused before the stream starts, with the usual JSON error and nothing written.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from ag_ui.core import Message, RunAgentInput
from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response

from .. import runtime
from ..agent import approvals, runs, state
from ..agent.agents import Agent
from ..agent.reconcile import OrchestrationStatus, reconcile_run
from ..agent.runs import OrchestrationStarter, new_id
from ..agui.conversation import Conversation
from ..agui.messages import new_messages
from ..agui.stream import RunProjection, join_frames, mentioned_messages, read_run, replay_frames, run_frames
from ..config import get_settings
from ..exceptions import AgentMismatch, InvalidRequest, RunAlreadyActive, UnsupportedMediaType
from .handlers import STREAM_HEADERS, agent_named, caller_endpoint, stream_token, take_stream_slot
from .inputs import ID_PATTERN, build_run_request, describe, read_body, validate_id
from .jsonbody import parse_json_object
from .slots import SlotStreamingResponse


@dataclass(frozen=True, slots=True)
class AGUIRequest:
    """What the endpoint uses of a RunAgentInput. `thread_id` is None when the client sent none;
    `run_id` is None when it sent none we can use."""

    thread_id: str | None
    run_id: str | None
    messages: list[Message]
    tools: list[dict[str, Any]]
    #: Answers to the thread's open interrupts, camelCase, as the client sent them.
    resume: list[dict[str, Any]] | None = None
    #: The client's shared state; a non-empty object replaces the thread's.
    state: dict[str, Any] | None = None


async def read_agui_request(request: Request, *, max_bytes: int) -> AGUIRequest:
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "application/json":
        raise UnsupportedMediaType(f"Content-Type '{media_type or '(none)'}' is not accepted: send application/json.")
    data = parse_json_object(await read_body(request, max_bytes), what="a JSON object (a RunAgentInput)")
    thread_id = _pop_either(data, "threadId", "thread_id")
    run_id = _pop_either(data, "runId", "run_id")
    if thread_id is not None:
        if not isinstance(thread_id, str):
            raise InvalidRequest("threadId must be a string.", code="invalid_thread_id")
        validate_id(thread_id, "thread id")
    try:
        # The ids are checked above; the model requires them, so it gets stand-ins.
        parsed = RunAgentInput.model_validate({**data, "threadId": "-", "runId": "-"})
    except ValidationError as exc:
        raise InvalidRequest(describe(exc), code="invalid_body") from None
    usable_run_id = run_id if isinstance(run_id, str) and ID_PATTERN.fullmatch(run_id) else None
    tools = [
        tool.model_dump(by_alias=True, include={"name", "description", "parameters"}) for tool in parsed.tools or []
    ]
    resume = [entry.model_dump(by_alias=True, exclude_none=True) for entry in parsed.resume] if parsed.resume else None
    if parsed.state is not None and not isinstance(parsed.state, dict):
        raise InvalidRequest("state must be a JSON object.", code="invalid_state")
    return AGUIRequest(thread_id, usable_run_id, parsed.messages, tools, resume, parsed.state or None)


def _pop_either(data: dict[str, Any], camel: str, snake: str) -> Any:
    value = data.pop(camel, None)
    snake_value = data.pop(snake, None)
    return value if value is not None else snake_value


@caller_endpoint
async def run_agui(
    request: Request,
    start_orchestration: OrchestrationStarter,
    orchestration_status: OrchestrationStatus,
    agent_name: str | None = None,
) -> Response:
    """POST /agent/ag-ui (the first agent) or /agents/{agent_name}/ag-ui."""
    agent = agent_named(agent_name)
    settings = get_settings()
    agui = await read_agui_request(request, max_bytes=settings.max_request_bytes)
    # Every answer is a stream: take its slot before anything is written.
    release = take_stream_slot()
    try:
        return await _answer(agui, agent, start_orchestration, orchestration_status, release)
    except BaseException:
        release()
        raise


async def _answer(
    agui: AGUIRequest,
    agent: Agent,
    start_orchestration: OrchestrationStarter,
    orchestration_status: OrchestrationStatus,
    release: Callable[[], None],
) -> Response:
    settings = get_settings()
    store, hub = runtime.get_store(), runtime.get_hub()
    thread_id = agui.thread_id or new_id()
    head = await store.head(thread_id) if agui.thread_id is not None else None
    if head is not None and head.agent is not None and head.agent != agent.name:
        raise AgentMismatch(thread_id, head.agent, agent.name)
    # A run left without its orchestration would never end: neither joined nor followed by a new one.
    if head is not None and head.active_run_id is not None:
        if await reconcile_run(store, thread_id, head.active_run_id, orchestration_status):
            head = await store.head(thread_id)
    stored = await store.get_messages(thread_id) if head is not None else []
    active_run_id = head.active_run_id if head is not None else None
    run = await store.get_run(thread_id, active_run_id) if active_run_id is not None else None
    streaming: set[str] = set()
    if run is not None:
        streaming = mentioned_messages((await read_run(store, thread_id, run.run_id, run.start_seq))[0])
    fresh = new_messages(agui.messages, stored, streaming)
    if agui.resume is not None:
        if fresh:
            raise InvalidRequest(
                "A run that carries 'resume' takes no new messages: send them after it.", code="invalid_resume"
            )
        run_request = build_run_request(
            thread_id,
            [],
            agui.tools,
            max_message_chars=settings.max_message_chars,
            resume=agui.resume,
            state=agui.state,
        )
        started = await runs.start_run(
            run_request, agent, start_orchestration, orchestration_status=orchestration_status, client_tools="finish"
        )
        projection = RunProjection(thread_id, Conversation(stored), snapshot_first=True)
        frames = run_frames(hub, projection, started.run_id, started.first_seq - 1)
        return _agui_response(frames, thread_id, started.run_id, release)
    if not fresh:
        if run is not None:
            frames = join_frames(hub, thread_id, run.run_id, run.start_seq)
            return _agui_response(frames, thread_id, run.run_id, release)
        replay_id = agui.run_id or new_id()
        thread = await store.get_thread(thread_id) if head else None
        waiting = [item.interrupt for item in await approvals.open_interrupts(store, thread)]
        shared = await state.thread_state(store, thread)
        replay = replay_frames(thread_id, replay_id, stored, await agent.registry.load(), waiting, shared)
        return _agui_response(replay, thread_id, replay_id, release)
    if active_run_id is not None:
        raise RunAlreadyActive(thread_id, active_run_id)
    run_request = build_run_request(
        thread_id, fresh, agui.tools, max_message_chars=settings.max_message_chars, state=agui.state
    )
    run_id = agui.run_id
    if run_id is not None and head is not None and await store.get_run(thread_id, run_id) is not None:
        run_id = None  # the client reused a run id of this thread: the new run needs its own
    # Client tools the AG-UI way: the run finishes with the calls pending, the next run answers them.
    started = await runs.start_run(
        run_request,
        agent,
        start_orchestration,
        orchestration_status=orchestration_status,
        client_tools="finish",
        create_thread=True,
        run_id=run_id,
    )
    projection = RunProjection(thread_id, Conversation(stored + fresh), echoed=fresh)
    frames = run_frames(hub, projection, started.run_id, started.first_seq - 1)
    return _agui_response(frames, thread_id, started.run_id, release)


def _agui_response(
    frames: AsyncIterator[str] | Iterable[str], thread_id: str, run_id: str, release: Callable[[], None]
) -> Response:
    headers = {**STREAM_HEADERS, "x-thread-id": thread_id, "x-run-id": run_id}
    if token := stream_token(thread_id):
        # Lets the client read the thread through the plain stream too.
        headers["x-stream-token"] = token
    return SlotStreamingResponse(frames, media_type="text/event-stream", headers=headers, release=release)
