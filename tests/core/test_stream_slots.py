"""The stream response's bounded writes, driven in-process with a hand-written `send`."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from starlette.types import Message

from agentstream.http.slots import WRITE_PIECE_BYTES, SlotStreamingResponse

SCOPE = {"type": "http", "asgi": {"spec_version": "2.4"}, "method": "GET", "path": "/", "headers": []}


async def no_disconnect() -> Message:
    await asyncio.Event().wait()
    raise AssertionError("unreachable")


def response(chunks: list[bytes], released: list[bool], *, write_timeout: float, max_seconds: float = 60):
    async def body() -> AsyncIterator[bytes]:
        for chunk in chunks:
            yield chunk

    return SlotStreamingResponse(
        body(),
        media_type="text/event-stream",
        release=lambda: released.append(True),
        write_timeout=write_timeout,
        max_seconds=max_seconds,
    )


def test_a_slow_reader_that_keeps_taking_data_gets_a_big_event_whole() -> None:
    big = b"x" * (8 * WRITE_PIECE_BYTES)
    received = bytearray()
    released: list[bool] = []

    async def slow_send(message: Message) -> None:
        # A client taking 8 pieces per 0.4 s: the whole event takes four times the write bound.
        await asyncio.sleep(len(message.get("body", b"")) / WRITE_PIECE_BYTES * 0.05)
        received.extend(message.get("body", b""))

    async def main() -> None:
        async with asyncio.timeout(5):
            await response([big, b"end"], released, write_timeout=0.1)(SCOPE, no_disconnect, slow_send)

    asyncio.run(main())
    assert bytes(received) == big + b"end" and released == [True]


def test_a_reader_that_stops_taking_data_ends_the_response_within_the_write_bound() -> None:
    released: list[bool] = []
    sends = 0

    async def stalled_send(message: Message) -> None:
        nonlocal sends
        sends += 1
        if sends > 2:  # the headers and one chunk go out, then the client stops reading
            await asyncio.Event().wait()

    async def main() -> float:
        loop = asyncio.get_running_loop()
        started = loop.time()
        async with asyncio.timeout(5):
            await response([b"a", b"b", b"c"], released, write_timeout=0.2)(SCOPE, no_disconnect, stalled_send)
        return loop.time() - started

    assert asyncio.run(main()) < 1
    assert released == [True]


def test_no_write_waits_past_the_planned_close() -> None:
    released: list[bool] = []

    async def stalled_send(message: Message) -> None:
        if message["type"] == "http.response.body":
            await asyncio.Event().wait()

    async def main() -> None:
        async with asyncio.timeout(5):
            await response([b"a"], released, write_timeout=60, max_seconds=0.1)(SCOPE, no_disconnect, stalled_send)

    asyncio.run(main())
    assert released == [True]
