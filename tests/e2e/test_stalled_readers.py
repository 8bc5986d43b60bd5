"""Readers that stop reading lose their stream slot: invariant 10, a reader cannot hold a slot past
STREAM_MAX_SECONDS, and a write the client does not take within STREAM_WRITE_TIMEOUT_SECONDS ends it."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest
import requests

from tests.harness import Devhost, wait_until

BIG_MESSAGE_CHARS = 1_500_000


def big_thread(host: Devhost) -> str:
    """A thread with several MB of events: far more than a socket and the server's write buffer hold."""
    thread_id = None
    for turn in range(3):
        body = {"message": f"Turn {turn}: " + "x" * BIG_MESSAGE_CHARS}
        if thread_id is not None:
            body["thread_id"] = thread_id
        response = requests.post(f"{host.url}/api/agent/run", json=body, timeout=30)
        assert response.status_code == 202, response.text
        thread_id = response.json()["thread_id"]
        host.wait_idle(thread_id)
    assert thread_id is not None
    return thread_id


def stalled_reader(host: Devhost, thread_id: str) -> socket.socket:
    """A raw connection with a tiny receive buffer that asks for the whole thread and never reads."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", host.port))
    request = f"GET /api/agent/stream/{thread_id} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n"
    sock.sendall(request.encode())
    # Read only the status line's start, so the slot is known to be held before anyone else asks for one.
    sock.settimeout(10)
    assert sock.recv(12, socket.MSG_WAITALL) == b"HTTP/1.1 200"
    return sock


@pytest.fixture
def stalled(request: pytest.FixtureRequest) -> Iterator[list[socket.socket]]:
    sockets: list[socket.socket] = []
    yield sockets
    for sock in sockets:
        sock.close()


def third_reader_status(host: Devhost, thread_id: str) -> int:
    with requests.get(f"{host.url}/api/agent/stream/{thread_id}?after=0", stream=True, timeout=10) as response:
        return response.status_code


@pytest.mark.parametrize(
    ("stream_max_seconds", "write_timeout_seconds", "freed_within"),
    [
        # The write bound is long: the planned close alone must free the slots.
        (3.0, 60.0, 3.0 + 4.0),
        # The planned close is far: the write bound must.
        (60.0, 1.0, 1.0 + 4.0),
    ],
    ids=["planned-close", "write-timeout"],
)
def test_stalled_readers_lose_their_slots(
    make_devhost,
    stalled: list[socket.socket],
    stream_max_seconds: float,
    write_timeout_seconds: float,
    freed_within: float,
) -> None:
    host: Devhost = make_devhost(
        {
            "MAX_CONCURRENT_STREAMS": "2",
            "STREAM_MAX_SECONDS": str(stream_max_seconds),
            "STREAM_WRITE_TIMEOUT_SECONDS": str(write_timeout_seconds),
            "MAX_MESSAGE_CHARS": str(2 * BIG_MESSAGE_CHARS),
            "MAX_REQUEST_BYTES": str(4 * BIG_MESSAGE_CHARS),
            "DEMO_TOKENS_PER_SECOND": "5000",
        }
    )
    thread_id = big_thread(host)
    opened = time.monotonic()
    stalled += [stalled_reader(host, thread_id), stalled_reader(host, thread_id)]
    # Both stalled readers hold their slots: a third reader is turned away.
    assert third_reader_status(host, thread_id) == 503

    wait_until(
        lambda: third_reader_status(host, thread_id) == 200,
        timeout=freed_within + 5,
        interval=0.1,
        message="a slot freed from a stalled reader",
    )
    freed_after = time.monotonic() - opened
    print(f"stalled readers freed their slots after {freed_after:.2f} s")
    assert freed_after <= freed_within
