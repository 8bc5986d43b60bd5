"""The HTTP API, independent of the host: Starlette requests in, Starlette responses out.

`function_app.py` (through `api/routes.py`) and anything else that can hand over a Starlette
request call these. The durable orchestration is started through a callback, so this module
knows nothing of Azure Functions.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from .. import runtime, telemetry
from ..agent import approvals, reconcile, runs, state
from ..agent.agents import Agent
from ..agent.reconcile import OrchestrationStatus
from ..agent.requests import InputMessage
from ..agent.runs import OrchestrationStarter
from ..config import get_settings
from ..exceptions import (
    APIError,
    CursorExpired,
    InvalidRequest,
    RunFinished,
    RunNotFound,
    ServiceUnavailable,
    StoreUnavailable,
    ThreadNotFound,
)
from ..log.events import token_usage
from ..log.reader import ReadOptions, read_thread
from ..log.sse import comment_frame, event_frames, retry_frame
from ..log.stores.base import RunInfo, RunStatus
from ..tokens import issue_stream_token
from .auth import authorize_caller, authorize_reader
from .cors import add_cors_headers, preflight
from .errors import error_response
from .inputs import (
    parse_cursor,
    parse_flag,
    preferred_media_type,
    read_run_request,
    read_tool_results,
    reject_unknown_parameters,
    validate_id,
)
from .slots import SlotStreamingResponse, get_stream_slots
from .static import static_file
from .text import plain_text_chunks

logger = logging.getLogger(__name__)

RunSignal = Callable[[str, str], Awaitable[None]]
Handler = Callable[..., Awaitable[Response]]

STREAM_TYPES = ("text/event-stream", "text/plain")
STREAM_HEADERS = {"Cache-Control": "no-cache, no-transform", "X-Accel-Buffering": "no"}
STREAM_PARAMETERS = ("after", "run_id", "follow", "access_token")
STATUS_PARAMETERS = ("access_token",)


def api_endpoint(handler: Handler) -> Handler:
    """Turn the errors a handler raises into JSON error responses; add CORS headers for allowed origins.

    The handler's first argument is the request.
    """

    @functools.wraps(handler)
    async def wrapper(request: Request, *args: Any, **kwargs: Any) -> Response:
        return add_cors_headers(request, await _respond(handler, request, *args, **kwargs))

    return wrapper


def caller_endpoint(handler: Handler) -> Handler:
    """An api_endpoint for the app's callers (start, cancel, tool results, AG-UI), not for stream readers.

    Its route must use the callers' auth level (`agentstream.functions.auth.CALLER_AUTH_LEVEL`), so that with
    API_AUTH=function_key the host checks the key; with API_AUTH=entra this checks the principal.
    """

    @functools.wraps(handler)
    async def authorized(request: Request, *args: Any, **kwargs: Any) -> Response:
        authorize_caller(request, get_settings())
        return await handler(request, *args, **kwargs)

    return api_endpoint(authorized)


async def _respond(handler: Handler, *args: Any, **kwargs: Any) -> Response:
    try:
        return await handler(*args, **kwargs)
    except APIError as exc:
        return error_response(exc)
    except StoreUnavailable:
        logger.exception("Event store unavailable")
        return error_response(
            ServiceUnavailable(
                "The event store is unavailable. Retry shortly.",
                code="store_unavailable",
                headers={"Retry-After": "5"},
            )
        )


def agent_named(name: str | None) -> Agent:
    """The agent a route names, or the first agent for the unnamed `/agent/...` routes."""
    agents = runtime.get_agents()
    return agents.default if name is None else agents.get(name)


@caller_endpoint
async def list_agents(request: Request) -> Response:
    # MCP servers' tools are listed too (all agents' servers at once), through the cache the runs use.
    agents = list(runtime.get_agents())
    tools = await asyncio.gather(*(agent.registry.load() for agent in agents))
    return JSONResponse({"agents": [agent.info(loaded) for agent, loaded in zip(agents, tools, strict=True)]})


@caller_endpoint
async def start_run(
    request: Request,
    start_orchestration: OrchestrationStarter,
    orchestration_status: OrchestrationStatus,
    agent_name: str | None = None,
) -> Response:
    """POST /agent/run (the first agent) or /agents/{agent_name}/run."""
    agent = agent_named(agent_name)
    settings = get_settings()
    run_request = await read_run_request(
        request, max_bytes=settings.max_request_bytes, max_message_chars=settings.max_message_chars
    )
    if run_request.thread_id is not None and run_request.message_ids:
        await _refuse_reused_message_ids(run_request.thread_id, run_request.messages or [])
    wanted = preferred_media_type(request.headers.get("accept", ""), ("application/json", *STREAM_TYPES))
    # A start that would stream takes its stream slot before it writes anything.
    release = take_stream_slot() if wanted in STREAM_TYPES else None
    try:
        started = await runs.start_run(
            run_request, agent, start_orchestration, orchestration_status=orchestration_status
        )
    except BaseException:
        if release is not None:
            release()
        raise
    thread_id, run_id = started.thread_id, started.run_id
    token = stream_token(thread_id)
    if release is not None:
        # The client needs the token to resume this stream after a drop.
        headers = {"x-run-id": run_id, **({"x-stream-token": token} if token else {})}
        options = _read_options(after=started.first_seq - 1, run_id=run_id, follow=False)
        return _stream_response(request, thread_id, options, release, extra_headers=headers)
    route = "/agent/run" if agent_name is None else f"/agents/{agent_name}/run"
    base = request.url.path.rstrip("/").removesuffix(route)
    run_path = f"{base}/agent/threads/{thread_id}/runs/{run_id}"
    access = f"&access_token={token}" if token else ""
    urls = {
        "stream_url": f"{base}/agent/stream/{thread_id}?run_id={run_id}{access}",
        "status_url": f"{base}/agent/threads/{thread_id}",
        "cancel_url": f"{run_path}/cancel",
        "tool_results_url": f"{run_path}/tool-results",
    }
    body: dict[str, Any] = {"thread_id": thread_id, "run_id": run_id, **urls}
    if token:
        body["stream_token"] = token
    return JSONResponse(body, status_code=202, headers={"Location": urls["stream_url"], "x-thread-id": thread_id})


async def _refuse_reused_message_ids(thread_id: str, messages: list[InputMessage]) -> None:
    # A second message under a stored id would make the thread's messages ambiguous for every client.
    stored = await runtime.get_store().get_messages(thread_id)
    stored_ids = {message["id"] for message in stored}
    answered = {message.get("toolCallId") for message in stored if message["role"] == "tool"}
    reused: list[str] = sorted(
        {
            message.id
            for message in messages
            if message.id is not None
            and message.id in stored_ids
            # A repeated answer to a call is refused as 409 tool_call_answered by the run's own checks.
            and not (message.role == "tool" and message.tool_call_id in answered)
        }
    )
    if reused:
        raise InvalidRequest(
            f"Message id(s) {', '.join(r[:128] for r in reused)} are already on thread '{thread_id}'; "
            "give new messages new ids.",
            code="duplicate_message_id",
        )


def stream_token(thread_id: str) -> str | None:
    """A token for reading `thread_id`, when the app has a secret to sign it with."""
    settings = get_settings()
    if not settings.stream_token_secret:
        return None
    return issue_stream_token(settings.stream_token_secret, thread_id, settings.stream_token_ttl_seconds)


@caller_endpoint
async def submit_tool_results(
    request: Request, thread_id: str, run_id: str, signal_results: runs.ToolResultsSignal
) -> Response:
    """Results of client-side tool calls; the waiting run continues with them."""
    validate_id(thread_id, "thread id")
    validate_id(run_id, "run id")
    body = await read_tool_results(request, max_bytes=get_settings().max_request_bytes)
    accepted = await runs.submit_tool_results(thread_id, run_id, body.results, signal_results)
    return JSONResponse({"thread_id": thread_id, "run_id": run_id, "accepted": accepted}, status_code=202)


@caller_endpoint
async def cancel_run(
    request: Request,
    thread_id: str,
    run_id: str,
    signal_cancel: RunSignal,
    orchestration_status: OrchestrationStatus,
) -> Response:
    """Ask a run to stop. Idempotent: 202 while it winds down, 200 once it ended cancelled.

    The flag comes first, so a run found without a live orchestration ends cancelled, here and now.
    """
    validate_id(thread_id, "thread id")
    validate_id(run_id, "run id")
    store = runtime.get_store()
    run = await store.request_cancel(thread_id, run_id)
    if run is None:
        raise await runs.missing_run(store, thread_id, run_id)
    if run.status is RunStatus.RUNNING and await reconcile.reconcile_run(
        store, thread_id, run_id, orchestration_status
    ):
        run = await store.get_run(thread_id, run_id) or run
    body = {"thread_id": thread_id, "run_id": run_id, "status": run.status.value}
    if run.status is RunStatus.CANCELLED:
        return JSONResponse(body)
    if run.status is not RunStatus.RUNNING:
        raise RunFinished(f"Run '{run_id}' already ended with status '{run.status.value}'.")
    try:
        await signal_cancel(thread_id, run_id)
    except Exception:
        # The flag is set: the run's next write is refused and it winds down by itself.
        telemetry.run_logger(logger, thread_id, run_id).warning(
            "Could not signal the cancellation of run %s", run_id, exc_info=True
        )
    return JSONResponse({**body, "status": "cancelling"}, status_code=202)


@api_endpoint
async def stream_thread(request: Request, thread_id: str) -> Response:
    reject_unknown_parameters(request, STREAM_PARAMETERS)
    validate_id(thread_id, "thread id")
    authorize_reader(request, thread_id, get_settings())
    cursor = parse_cursor(request)
    follow = parse_flag(request, "follow")
    run_id = request.query_params.get("run_id")
    if run_id is not None:
        validate_id(run_id, "run id")
    store = runtime.get_store()
    head = await store.head(thread_id)
    if head is None:
        raise ThreadNotFound(thread_id)
    if cursor > head.last_seq:
        raise InvalidRequest(
            f"Cursor {cursor} is beyond the end of thread '{thread_id}' (last event id {head.last_seq}).",
            code="cursor_out_of_range",
        )
    no_content = Response(status_code=204, headers={"x-thread-id": thread_id})
    if run_id is not None:
        run = await store.get_run(thread_id, run_id)
        if run is None:
            raise RunNotFound(thread_id, run_id)
        if run.end_seq is not None and cursor >= run.end_seq:
            return no_content
        cursor = max(cursor, run.start_seq - 1)
    elif cursor == head.last_seq and head.active_run_id is None and not follow:
        return no_content
    if cursor < head.floor:
        raise CursorExpired(thread_id, cursor, head.floor)
    release = take_stream_slot()
    if cursor > 0:
        telemetry.record_resume()
    return _stream_response(request, thread_id, _read_options(after=cursor, run_id=run_id, follow=follow), release)


@api_endpoint
async def get_thread(request: Request, thread_id: str, orchestration_status: OrchestrationStatus) -> Response:
    reject_unknown_parameters(request, STATUS_PARAMETERS)
    validate_id(thread_id, "thread id")
    authorize_reader(request, thread_id, get_settings())
    store = runtime.get_store()
    thread = await store.get_thread(thread_id)
    if thread is None:
        raise ThreadNotFound(thread_id)
    if thread.active_run_id is not None and await reconcile.reconcile_run(
        store, thread_id, thread.active_run_id, orchestration_status
    ):
        thread = await store.get_thread(thread_id) or thread
    messages = await store.get_messages(thread_id)
    # Only an agent with an output type has results to look up.
    agents = {agent.name: agent for agent in runtime.get_agents()}
    owner = agents.get(thread.agent) if thread.agent else runtime.get_agents().default
    results = await runs.run_results(store, thread_id, thread.runs, messages) if owner and owner.output_type else {}
    return JSONResponse(
        {
            "thread_id": thread.thread_id,
            "agent": thread.agent,
            "created_at": _iso(thread.created_at),
            "updated_at": _iso(thread.updated_at),
            "last_event_id": thread.last_seq,
            "active_run_id": thread.active_run_id,
            "runs": [_run_body(run, results.get(run.run_id)) for run in thread.runs],
            "interrupts": [item.interrupt for item in await approvals.open_interrupts(store, thread)],
            "state": await state.thread_state(store, thread),
            "messages": messages,
        }
    )


@api_endpoint
async def health(request: Request) -> Response:
    store = runtime.get_store()
    try:
        await store.ping()
    except StoreUnavailable as exc:
        return JSONResponse(
            {"status": "unavailable", "store": {"backend": store.backend, "reachable": False, "error": str(exc)}},
            status_code=503,
            headers={"Retry-After": "5"},
        )
    return JSONResponse({"status": "ok", "store": {"backend": store.backend, "reachable": True}})


@api_endpoint
async def web_file(request: Request, root: Path, path: str) -> Response:
    return static_file(request, root, path)


@api_endpoint
async def cors_preflight(request: Request) -> Response:
    return preflight(request)


def take_stream_slot() -> Callable[[], None]:
    """One of this instance's MAX_CONCURRENT_STREAMS, or 503; call the result when the stream ends."""
    return get_stream_slots().acquire(get_settings().max_concurrent_streams)


def _read_options(*, after: int, run_id: str | None, follow: bool) -> ReadOptions:
    settings = get_settings()
    return ReadOptions(
        after=after,
        run_id=run_id,
        follow=follow,
        max_seconds=settings.stream_max_seconds,
        heartbeat=settings.stream_heartbeat_seconds,
    )


def _stream_response(
    request: Request,
    thread_id: str,
    options: ReadOptions,
    release: Callable[[], None],
    extra_headers: dict[str, str] | None = None,
) -> Response:
    """SSE by default; the assistant's plain text when the client asks for text/plain only."""
    headers = {**STREAM_HEADERS, "x-thread-id": thread_id, **(extra_headers or {})}
    batches = read_thread(runtime.get_hub(), thread_id, options)
    if preferred_media_type(request.headers.get("accept", ""), STREAM_TYPES) == "text/plain":
        return SlotStreamingResponse(
            plain_text_chunks(batches), media_type="text/plain; charset=utf-8", headers=headers, release=release
        )

    async def frames() -> AsyncIterator[str]:
        yield retry_frame(get_settings().stream_retry_ms)
        async for batch in batches:
            if not batch:
                yield comment_frame("ping")
            for chunk in event_frames((e.seq, e.data) for e in batch):
                yield chunk

    return SlotStreamingResponse(frames(), media_type="text/event-stream", headers=headers, release=release)


def _iso(timestamp: float | None) -> str | None:
    if timestamp is None:
        return None
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _run_body(run: RunInfo, result: Any) -> dict[str, Any]:
    return {
        "run_id": run.run_id,
        "status": run.status.value,
        "created_at": _iso(run.created_at),
        "finished_at": _iso(run.finished_at),
        "first_event_id": run.start_seq,
        "last_event_id": run.end_seq,
        "usage": [entry.model_dump(by_alias=True, exclude_none=True) for entry in token_usage(run.usage)],
        "error": run.error,
        "result": result,
        "active": run.status is RunStatus.RUNNING,
    }
