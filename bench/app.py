"""The function app as the bench runs it: `python -m devhost --app bench.app`.

It is `function_app.app` unchanged, plus two bench-only HTTP triggers under `/api/bench/`:
the store counters (`bench.instruments`) with the process's RSS, and in-process listeners that
read a thread through this process's own tail hub (`read_thread`, as the SSE endpoint does), for
the delivery latency of a reader in the same process as the writer. Nothing here is part of the
product: devhost loads it only when asked to.
"""

from __future__ import annotations

import asyncio
import secrets
import time

import azure.durable_functions as df
import azure.functions as func
from azurefunctions.extensions.http.fastapi import JSONResponse, Request, Response

from agentstream import runtime
from agentstream.log.reader import ReadOptions, read_thread
from bench.instruments import StoreCounters
from bench.stamps import Reception
from function_app import app

counters = StoreCounters(runtime.get_store())
listeners: dict[str, asyncio.Task[Reception]] = {}
bp = df.Blueprint(http_auth_level=func.AuthLevel.ANONYMOUS)


@bp.route(route="bench/counters", methods=["GET"])
async def bench_counters(req: Request) -> Response:
    return JSONResponse(counters.snapshot())


@bp.route(route="bench/listeners", methods=["POST"])
async def bench_listen(req: Request) -> Response:
    """Follow a thread from its current end until a run ends; answers once the listener is subscribed."""
    thread_id = str((await req.json())["thread_id"])
    head = await runtime.get_store().head(thread_id)
    if head is None:
        return JSONResponse({"error": {"code": "thread_not_found", "message": thread_id}}, status_code=404)
    ready = asyncio.Event()
    listener_id = secrets.token_hex(8)
    listeners[listener_id] = asyncio.create_task(_listen(thread_id, head.last_seq, ready))
    await asyncio.wait_for(ready.wait(), 30)
    return JSONResponse({"listener_id": listener_id})


@bp.route(route="bench/listeners/{listener_id}", methods=["GET"])
async def bench_listened(req: Request) -> Response:
    reception = await asyncio.wait_for(listeners.pop(req.path_params["listener_id"]), 300)
    return JSONResponse(reception.to_json())


async def _listen(thread_id: str, after: int, ready: asyncio.Event) -> Reception:
    reception = Reception.empty()
    # The first heartbeat (an empty batch) tells that the reader has subscribed and caught up.
    options = ReadOptions(after=after, follow=True, max_seconds=300, heartbeat=0.05)
    async for batch in read_thread(runtime.get_hub(), thread_id, options):
        received = time.time_ns()
        ready.set()
        for envelope in batch:
            reception.add(received, envelope.seq, envelope.data)
            if envelope.is_terminal:
                return reception
    return reception


app.register_functions(bp)
