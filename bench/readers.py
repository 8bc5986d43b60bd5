"""SSE readers in their own process: `python -m bench.readers URL... --count N`.

Opens N concurrent streams of each URL (normally `...?follow=1&after=<end>`), prints `ready` once
every stream has its first bytes, reads each until a run's terminal event, then prints one JSON
line with what each reader received (`bench.stamps.Reception`, URL by URL) and the CPU time this
process used. A reader that fails is reported as an empty reception with its error, so one broken
stream among many is counted, not fatal. Receive times are taken when a chunk arrives, before it is parsed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import time

import aiohttp

from agentstream_client.sse import SSEDecoder
from bench.stamps import TERMINAL, Reception, is_terminal

TERMINAL_BYTES = tuple(marker.encode() for marker in TERMINAL)


async def read_stream(session: aiohttp.ClientSession, url: str, ready: list[int]) -> Reception:
    # The hot loop only notes arrival times and keeps the bytes: parsing waits until the run is over,
    # so a busy reader process does not add its own delay to what it measures.
    chunks: list[tuple[int, bytes]] = []
    async with session.get(url, headers={"Accept": "text/event-stream"}) as response:
        if response.status != 200:
            raise RuntimeError(f"GET {url} answered {response.status}: {await response.text()}")
        tail = b""
        async for chunk in response.content.iter_any():
            chunks.append((time.time_ns(), chunk))
            if len(chunks) == 1:
                ready[0] += 1
            # A terminal marker may straddle two chunks: look at the end of the previous one too.
            if any(marker in tail + chunk for marker in TERMINAL_BYTES):
                break
            tail = chunk[-64:]
    reception = Reception.empty()
    decoder = SSEDecoder()
    for received, chunk in chunks:
        for event in decoder.decode(chunk):
            if event.id is not None:
                reception.add(received, int(event.id), event.data)
                if is_terminal(event.data):
                    return reception
    return reception


async def main(urls: list[str], count: int, timeout: float) -> None:
    ready = [0]
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(
        connector=connector, timeout=aiohttp.ClientTimeout(total=timeout, sock_connect=30)
    ) as session:
        tasks = [asyncio.create_task(read_stream(session, url, ready)) for url in urls for _ in range(count)]
        while ready[0] < len(tasks):
            failed = [t for t in tasks if t.done() and t.exception() is not None]
            if failed:
                raise failed[0].exception()  # type: ignore[misc]
            await asyncio.sleep(0.01)
        print("ready", flush=True)
        outcomes = await asyncio.gather(*tasks, return_exceptions=True)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu_seconds = usage.ru_utime + usage.ru_stime
    receptions = [
        {**Reception.empty().to_json(), "error": repr(o)} if isinstance(o, BaseException) else o.to_json()
        for o in outcomes
    ]
    print(json.dumps({"cpu_s": cpu_seconds, "receptions": receptions}), flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench.readers", description=__doc__)
    parser.add_argument("urls", nargs="+")
    parser.add_argument("--count", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=300)
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, len(args.urls) * args.count * 2 + 256)), hard))
    asyncio.run(main(args.urls, args.count, args.timeout))
