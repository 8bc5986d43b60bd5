"""What the HTTP API answers for a store's conditions, on every backend: 410 past retention, 503 while away."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from ag_ui.core import CustomEvent, RunFinishedEvent
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from agentstream import runtime
from agentstream.http import handlers
from agentstream.log.events import NewEvent
from agentstream.log.stores import EventStore, RunStatus
from agentstream.log.tail import TailHub
from agentstream_client.sse import SSEDecoder
from tests.stores.backends import Backend
from tests.stores.test_conformance import FakeClock


def get(path: str, *, query: str = "", headers: dict[str, str] | None = None) -> Request:
    return Request(
        {
            "type": "http",
            "method": "GET",
            "path": path,
            "query_string": query.encode(),
            "headers": [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()],
        }
    )


def error_of(response: Response) -> tuple[int, str, dict[str, str]]:
    body = json.loads(bytes(response.body))
    return response.status_code, body["error"]["code"], dict(response.headers)


async def stream_ids(response: Response) -> list[int]:
    assert isinstance(response, StreamingResponse) and response.status_code == 200
    decoder = SSEDecoder()
    ids: list[int] = []
    async for chunk in response.body_iterator:
        ids += [int(e.id or 0) for e in decoder.decode(chunk if isinstance(chunk, str) else bytes(chunk).decode())]
    return ids


def serve(monkeypatch: pytest.MonkeyPatch, store: EventStore) -> None:
    hub = TailHub(store)
    monkeypatch.setattr(runtime, "get_store", lambda: store)
    monkeypatch.setattr(runtime, "get_hub", lambda: hub)


def label(value: Any) -> NewEvent:
    return NewEvent.of(CustomEvent(name="test", value=value))


def test_a_cursor_past_retention_gets_410_and_the_rest_is_served(backend: Backend, monkeypatch) -> None:
    clock = FakeClock()

    async def main() -> None:
        store = backend.open_store(backend.new_env(), retention=60, clock=clock)
        serve(monkeypatch, store)
        try:
            await store.start_run(
                "t", "r", [label("start"), label(1), label(2)], [], create=True, agent="default"
            )  # 1-3
            clock.now += 100
            await store.append("t", "r", [label(3)])  # 4; drops 1-3
            for request in (
                get("/api/agent/stream/t"),
                get("/api/agent/stream/t", query="after=2"),
                get("/api/agent/stream/t", headers={"Last-Event-ID": "1"}),
                get("/api/agent/stream/t", query="run_id=r"),
            ):
                status, code, _ = error_of(await handlers.stream_thread(request, "t"))
                assert (status, code) == (410, "cursor_expired"), request.url
            response = await handlers.stream_thread(get("/api/agent/stream/t", query="after=3"), "t")
            collect = asyncio.ensure_future(stream_ids(response))
            await store.finish_run(
                "t", "r", RunStatus.SUCCEEDED, [NewEvent.of(RunFinishedEvent(thread_id="t", run_id="r"))]
            )
            assert await asyncio.wait_for(collect, timeout=30) == [4, 5]
        finally:
            await store.close()

    asyncio.run(main())


def test_while_the_store_is_away_health_and_streams_answer_503_with_retry_after(backend: Backend, monkeypatch) -> None:
    env = backend.new_env()

    async def main() -> None:
        store = backend.open_store(env)
        serve(monkeypatch, store)
        try:
            await store.start_run("t", "r", [label("start")], [], create=True, agent="default")
            health = await handlers.health(get("/api/health"))
            assert health.status_code == 200
            with backend.outage(env):
                health = await handlers.health(get("/api/health"))
                stream = await handlers.stream_thread(get("/api/agent/stream/t"), "t")
                if backend.reads_during_outage:
                    assert health.status_code == 200 and stream.status_code == 200
                    return
                body = json.loads(bytes(health.body))
                assert health.status_code == 503 and health.headers["retry-after"]
                assert body["store"] == {"backend": backend.name, "reachable": False, "error": body["store"]["error"]}
                assert error_of(stream)[:2] == (503, "store_unavailable")
                assert int(error_of(stream)[2]["retry-after"]) > 0
            assert (await handlers.health(get("/api/health"))).status_code == 200
        finally:
            await store.close()

    asyncio.run(main())
