"""The async Python client against a real devhost: resume through the cutting proxy, concurrent views,
the first token, failures and cancel, and doctored streams for gaps and status codes."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from http.server import BaseHTTPRequestHandler
from typing import Any, TypeVar

import httpx
import pytest

from agentstream_client import (
    AsyncAgentStreamClient,
    AsyncEventStream,
    AsyncRun,
    ClientTool,
    CursorExpiredError,
    NotFoundError,
    RunFailedError,
    RunResult,
    StreamEvent,
    StreamGapError,
)
from tests.client import expectations as expected
from tests.client.servers import doctored_server, send_events, send_json, serving
from tests.harness import Devhost

STARTED = {"type": "RUN_STARTED", "threadId": "t", "runId": "r"}
T = TypeVar("T")


def run_async(test: Callable[[AsyncAgentStreamClient], Awaitable[T]], url: str) -> T:
    """Run `test` with a client on `url`, guarded so that a hang fails instead of stalling the suite."""

    async def guarded() -> T:
        async with asyncio.timeout(60), AsyncAgentStreamClient(url, backoff=expected.FAST) as client:
            return await test(client)

    return asyncio.run(guarded())


def deltas(events: list[StreamEvent], kind: str) -> str:
    """The deltas of one kind, in stream order; text only from the assistant (the stream also holds the user's)."""
    users = {e.body["messageId"] for e in events if e.type == "TEXT_MESSAGE_START" and e.body.get("role") == "user"}
    return "".join(e.body["delta"] for e in events if e.type == kind and e.body["messageId"] not in users)


def test_an_async_run_cut_every_four_events_yields_the_uninterrupted_event_list(devhost: Devhost, proxy) -> None:
    cutting, url = proxy
    mark = expected.proxy_mark(cutting)

    async def read(client: AsyncAgentStreamClient) -> tuple[AsyncRun, list[StreamEvent], RunResult]:
        run = await client.run(expected.CUT_RUN_MESSAGE)
        return run, [event async for event in run], await run.result()

    run, events, result = run_async(read, url)
    expected.check_cut_run(devhost, cutting, mark, run, events, result)


def test_text_and_reasoning_read_concurrently_each_come_whole_and_in_order(devhost: Devhost, proxy) -> None:
    _, url = proxy

    async def read(client: AsyncAgentStreamClient) -> tuple[AsyncRun, str, str]:
        run = await client.run("Think before you answer, please.")

        async def collect(chunks: Any) -> str:
            return "".join([chunk async for chunk in chunks])

        text, reasoning = await asyncio.gather(collect(run.consume()), collect(run.consume_reasoning()))
        return run, text, reasoning

    run, text, reasoning = run_async(read, url)
    direct = devhost.stream(f"/api/agent/stream/{run.thread_id}")
    assert reasoning == deltas(direct, "REASONING_MESSAGE_CONTENT")
    assert reasoning.startswith("The user wants me to think first.")
    assert text == deltas(direct, "TEXT_MESSAGE_CONTENT") and text
    assert run.stream.connections > 1
    # One read of the stream served both views.
    assert [e.id for e in run.events] == [e.id for e in direct]


def test_first_token_resolves_before_the_second_text_delta_is_read(devhost: Devhost) -> None:
    async def read(client: AsyncAgentStreamClient) -> tuple[list[str], list[bool], StreamEvent | None]:
        run = await client.run("Hello, how are you today?")
        log: list[str] = []

        async def reader() -> None:
            async for event in run:
                log.append("text" if run.text_delta(event) is not None else event.type)

        async def waiter() -> StreamEvent | None:
            token = await run.first_token
            log.append("first_token")
            return token

        alone = await client.run("Hello again, how are you?")
        first = await alone.first_token
        # Awaited alone, it reads the stream itself and stops at the first delta.
        read_alone = [alone.text_delta(e) is not None for e in alone.events]
        assert first is not None and alone.events[-1] == first
        await alone.result()

        _, token = await asyncio.gather(reader(), waiter())
        return log, read_alone, token

    log, read_alone, token = run_async(read, devhost.url)
    assert read_alone.count(True) == 1 and read_alone[-1]
    contents = [i for i, kind in enumerate(log) if kind == "text"]
    assert len(contents) > 1
    assert contents[0] < log.index("first_token") < contents[1]
    assert token is not None and token.type == "TEXT_MESSAGE_CONTENT"


def test_a_failed_model_run_raises_the_typed_error_from_result(devhost: Devhost) -> None:
    async def read(client: AsyncAgentStreamClient) -> tuple[AsyncRun, RunFailedError]:
        run = await client.run("Answer this [fail:model]")
        with pytest.raises(RunFailedError) as failed:
            await run.result()
        # Asked again, it raises again: the result is kept, not fetched twice.
        with pytest.raises(RunFailedError):
            await run.result()
        return run, failed.value

    run, error = run_async(read, devhost.url)
    status = devhost.status(run.thread_id)
    assert error.code == "model_error" and "failed on purpose" in error.message
    assert error.result.outcome == "error" and not error.result.ok
    assert error.result.error == {"code": error.code, "message": error.message}
    assert error.result.messages == status["messages"]
    assert run.events[-1].type == "RUN_ERROR" and status["runs"][0]["status"] == "failed"


def test_cancel_from_another_task_ends_the_run_cancelled(make_devhost) -> None:
    host: Devhost = make_devhost({"DEMO_TOKENS_PER_SECOND": "20"})

    async def read(client: AsyncAgentStreamClient) -> tuple[AsyncRun, Any]:
        run = await client.run("Talk slowly so I can stop you.")

        async def stop() -> None:
            await run.first_token
            await run.cancel()

        result, _ = await asyncio.gather(run.result(), stop())
        return run, result

    run, result = run_async(read, host.url)
    assert result.outcome == "cancelled" and result.error is None
    assert run.events[-1].type == "RUN_FINISHED" and run.events[-1].body["outcome"]["type"] == "cancelled"
    assert host.status(run.thread_id)["runs"][0]["status"] == "cancelled"


def test_async_client_tools_are_answered_by_their_callbacks_while_the_run_streams(devhost: Devhost, proxy) -> None:
    _, url = proxy
    asked: list[dict] = []

    async def pick_colour(arguments: dict) -> dict:
        await asyncio.sleep(0)  # a real suspension: the answer is awaited, not just called
        asked.append(arguments)
        return {"colour": "teal", "palette": arguments["palette"]}

    async def read(client: AsyncAgentStreamClient) -> tuple[AsyncRun, RunResult]:
        run = await client.run(expected.TOOLS_MESSAGE, tools=expected.colour_and_booking(pick_colour))
        return run, await run.result()

    run, result = run_async(read, url)
    expected.check_tool_answers(run, result, asked)


def test_a_view_cancelled_mid_read_leaves_the_stream_whole_for_the_others(devhost: Devhost) -> None:
    async def read(client: AsyncAgentStreamClient) -> tuple[AsyncRun, list[StreamEvent]]:
        run = await client.run("What time is it?")

        async def first_view() -> None:
            async for _ in run:
                pass

        task = asyncio.create_task(first_view())
        while not run.events:
            await asyncio.sleep(0)  # only to let the first view start reading
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return run, [event async for event in run]

    run, events = run_async(read, devhost.url)
    direct = devhost.stream(f"/api/agent/stream/{run.thread_id}")
    assert [(e.id, e.body) for e in events] == [(e.id, e.body) for e in direct]


def test_aclose_stops_reading_and_leaves_the_run_going(devhost: Devhost) -> None:
    async def read(client: AsyncAgentStreamClient) -> tuple[AsyncRun, list[StreamEvent], list[StreamEvent]]:
        run = await client.run("Tell me a story.")
        await run.first_token
        read_before = list(run.events)
        await run.aclose()
        return run, read_before, [event async for event in run]

    run, read_before, replayed = run_async(read, devhost.url)
    assert replayed == read_before and run.stream.closed
    everything = devhost.stream(f"/api/agent/stream/{run.thread_id}")
    assert everything[-1].type == "RUN_FINISHED" and len(everything) > len(read_before)


def test_resume_after_an_event_id_yields_exactly_the_rest_and_a_caught_up_stream_ends(devhost: Devhost) -> None:
    async def read(client: AsyncAgentStreamClient) -> tuple[AsyncRun, list[StreamEvent], list[StreamEvent]]:
        first = await client.run("calculate 2*(3+4)")
        await first.result()
        resumed = client.resume(first.thread_id, after=3)
        rest = [event async for event in resumed]
        caught_up = [event async for event in client.stream(first.thread_id, after=first.events[-1].id)]
        return first, rest, caught_up

    first, rest, caught_up = run_async(read, devhost.url)
    assert [(e.id, e.body) for e in rest] == [(e.id, e.body) for e in first.events[3:]]
    assert caught_up == []


def test_server_errors_are_typed(devhost: Devhost) -> None:
    async def read(client: AsyncAgentStreamClient) -> tuple[NotFoundError, NotFoundError]:
        with pytest.raises(NotFoundError) as run_refused:
            await client.run("Hi", thread_id="no-such-thread")
        with pytest.raises(NotFoundError) as stream_refused:
            [event async for event in client.stream("no-such-thread")]
        return run_refused.value, stream_refused.value

    run_refused, stream_refused = run_async(read, devhost.url)
    assert run_refused.status_code == 404 and run_refused.code == "thread_not_found"
    assert stream_refused.code == "thread_not_found"


# -- doctored streams -------------------------------------------------------------------------


def _gap(handler: BaseHTTPRequestHandler) -> None:
    delta = {"type": "TEXT_MESSAGE_CONTENT", "messageId": "m", "delta": "a"}
    send_events(handler, [(1, STARTED), (2, delta), (4, delta)])


def _expired(handler: BaseHTTPRequestHandler) -> None:
    send_json(handler, 410, {"error": {"code": "cursor_expired", "message": "Events before 90 are gone."}})


_unavailable_cursors: list[str | None] = []


def _unavailable_once(handler: BaseHTTPRequestHandler) -> None:
    _unavailable_cursors.append(handler.headers.get("Last-Event-ID"))
    if len(_unavailable_cursors) == 1:
        send_json(handler, 503, {"error": {"code": "overloaded", "message": "busy"}}, {"Retry-After": "0"})
    else:
        send_events(handler, [(2, {"type": "RUN_FINISHED"})])


@pytest.fixture(scope="module")
def doctored() -> Iterator[str]:
    routes = {"/gap": _gap, "/expired": _expired, "/unavailable": _unavailable_once}
    with serving(doctored_server(routes)) as url:
        yield url


def read_stream(url: str, **kwargs: Any) -> list[StreamEvent]:
    async def read() -> list[StreamEvent]:
        async with asyncio.timeout(30), httpx.AsyncClient() as http:
            return [event async for event in AsyncEventStream(http, url, backoff=expected.FAST, **kwargs)]

    return asyncio.run(read())


def test_a_missing_event_id_fails_loudly(doctored: str) -> None:
    with pytest.raises(StreamGapError) as gap:
        read_stream(doctored + "/gap", after=0)
    assert (gap.value.expected, gap.value.received) == (3, 4)


def test_410_raises_cursor_expired(doctored: str) -> None:
    with pytest.raises(CursorExpiredError) as expired:
        read_stream(doctored + "/expired", after=5)
    assert expired.value.status_code == 410 and expired.value.code == "cursor_expired"


def test_a_503_is_retried_and_the_stream_resumes_after_the_last_id(doctored: str) -> None:
    events = read_stream(doctored + "/unavailable", after=1, until_terminal=True)
    assert [(e.id, e.type) for e in events] == [(2, "RUN_FINISHED")]
    assert _unavailable_cursors == ["1", "1"]


def test_an_async_tool_handler_under_the_sync_client_answers_with_an_error() -> None:
    async def handler(arguments: dict) -> str:
        return "never"

    tool = ClientTool(name="pick", description="Pick.", handler=handler)
    answer = tool.answer("call-1", "{}")
    assert answer["toolCallId"] == "call-1"
    assert answer["error"] == "TypeError: the handler of pick is async: use it with AsyncAgentStreamClient"
    assert asyncio.run(tool.aanswer("call-2", "{}")) == {"toolCallId": "call-2", "content": "never"}
