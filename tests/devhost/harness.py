"""Runs a DurableEngine behind a real uvicorn server on a free loopback port, for the tests."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from functools import cache
from pathlib import Path
from typing import Any

import uvicorn
from azure.durable_functions import DurableOrchestrationClient
from azure.durable_functions.models.utils import http_utils
from azure.functions.decorators.function_app import Function
from starlette.applications import Starlette

from devhost.durable import DurableEngine
from devhost.durable.delivery import DeliveryMode

from . import sample_app


@cache
def sample_functions() -> list[Function]:
    # DFApp.get_functions() may only be called once per app.
    return list(sample_app.app.get_functions())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@asynccontextmanager
async def running_engine(db_path: Path, delivery: DeliveryMode | None = None) -> AsyncIterator[DurableEngine]:
    port = free_port()
    engine = DurableEngine(sample_functions(), db_path=db_path, base_url=f"http://127.0.0.1:{port}", delivery=delivery)
    await engine.start()
    config = uvicorn.Config(Starlette(routes=engine.routes), host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())
    try:
        await wait_until(lambda: server.started, timeout=5)
        yield engine
    finally:
        server.should_exit = True
        await serving
        await engine.stop()


def client_for(engine: DurableEngine) -> DurableOrchestrationClient:
    return DurableOrchestrationClient(engine.client_binding())


async def wait_until(condition: Callable[[], Any], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met in time")
        await asyncio.sleep(0.01)


async def wait_for_status(
    client: DurableOrchestrationClient, instance_id: str, statuses: set[str], timeout: float = 10.0
) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        status = await client.get_status(instance_id)
        if status and status.runtime_status is not None and status.runtime_status.value in statuses:
            return status
        if time.monotonic() > deadline:
            raise TimeoutError(f"{instance_id} still {status.runtime_status if status else None}")
        await asyncio.sleep(0.02)


def run(test: Callable[[], Awaitable[None]]) -> None:
    """Run an async test body on a fresh loop; the SDK's shared aiohttp session must not outlive its loop."""

    async def body() -> None:
        http_utils._client_session = None
        try:
            await test()
        finally:
            await http_utils._close_session()

    sample_app.reset()
    asyncio.run(body())
