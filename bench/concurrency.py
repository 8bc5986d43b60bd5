"""Many concurrent runs on one devhost: the most it holds, stepped up until delivery slows or fails.

Each run is on its own thread, paced at RUN_RATE deltas per second (a fast model's speed), with one
reader in a separate process (`bench.readers`, one process for all of them, as many browsers would
be). A step holds when every reader saw every delta once, in order, every run started, and the p95
delivery latency over all deltas is within CONCURRENCY_P95_MS. The steps go up until one does not
hold; the row is the last step that held, with the host's CPU per delta and RSS per run there.
"""

from __future__ import annotations

import asyncio
import secrets
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import requests

from bench.backends import open_store
from bench.instruments import cpu_seconds, rss_kib
from bench.scenarios import BenchError, Measure, Profile, Readers, RSSSampler, seed_thread
from bench.stamps import Reception, percentile
from tests.harness import Devhost

RUN_RATE = 40
CONCURRENCY_P95_MS = 100.0
SEED_EVENTS = 5
# Runs are started by this many requests at a time: a burst of users, not one long queue.
STARTERS = 16


def concurrent_runs(workdir: Path, store_env: dict[str, str], profile: Profile, log: Any = print) -> dict[str, Measure]:
    most = max(profile.concurrency_steps)
    env = {**store_env, "DEMO_TOKENS_PER_SECOND": str(RUN_RATE), "MAX_CONCURRENT_STREAMS": str(most + 10)}
    host = Devhost(workdir / "concurrency-host", env, app="bench.app").start()
    steps: list[dict[str, Any]] = []
    try:
        for count in profile.concurrency_steps:
            step = _step(host, store_env, count, profile.concurrency_deltas)
            log(
                f"  {count} runs: p95 {step['p95_ms']} ms, {step['errors']} errors, "
                f"{step['cpu_ms_per_delta']} ms CPU/delta, {step['rss_mib_per_run']} MiB/run"
            )
            steps.append(step)
            if not _held(step):
                break
    finally:
        host.stop()
    held = [step for step in steps if _held(step)]
    best = held[-1] if held else None
    detail = {"rate": RUN_RATE, "deltas": profile.concurrency_deltas, "steps": steps}
    return {
        "concurrent_runs": Measure(
            best["runs"] if best else 0,
            "runs",
            len(steps),
            sum(step["runs"] * profile.concurrency_deltas for step in steps),
            {**detail, "first_failed": None if len(held) == len(steps) else steps[len(held)]["runs"]},
        ),
        "cpu_per_delta": Measure(best["cpu_ms_per_delta"] if best else None, "ms CPU/delta", 1, detail={}),
        "rss_per_run": Measure(best["rss_mib_per_run"] if best else None, "MiB/run", 1, detail={}),
    }


def _held(step: dict[str, Any]) -> bool:
    return step["errors"] == 0 and step["p95_ms"] is not None and step["p95_ms"] <= CONCURRENCY_P95_MS


def _step(host: Devhost, store_env: dict[str, str], count: int, deltas: int) -> dict[str, Any]:
    assert host.process is not None
    pid = host.process.pid
    threads = [f"bench-concurrent-{secrets.token_hex(6)}" for _ in range(count)]
    asyncio.run(_seed(store_env, threads))
    urls = [f"{host.url}/api/agent/stream/{thread_id}?follow=1&after={SEED_EVENTS}" for thread_id in threads]
    readers = Readers(urls)
    readers.wait_ready()
    idle_rss, before = rss_kib(pid), cpu_seconds(pid)
    sampler = RSSSampler(pid)
    with ThreadPoolExecutor(STARTERS) as pool:
        started = list(pool.map(lambda thread_id: _start(host, thread_id, deltas), threads))
    try:
        receptions = readers.result(timeout=60 + deltas / RUN_RATE * 4)
    except BenchError:
        # The readers' process failed or some run never ended: the step does not hold.
        receptions = [Reception.empty() for _ in threads]
        for reception in receptions:
            reception.error = "readers failed"
    host_cpu = cpu_seconds(pid) - before
    peak = sampler.stop()
    errors = started.count(False)
    latencies: list[float] = []
    for reception in receptions:
        if reception.error is not None or len(reception.stamped_ns) != deltas or not reception.contiguous():
            errors += 1
        else:
            latencies.extend(reception.latencies_ms())
    return {
        "runs": count,
        "errors": errors,
        "p50_ms": round(percentile(latencies, 0.5), 2) if latencies else None,
        "p95_ms": round(percentile(latencies, 0.95), 2) if latencies else None,
        "cpu_ms_per_delta": round(1000 * host_cpu / (count * deltas), 3),
        "rss_mib_per_run": round((peak - idle_rss) / 1024 / count, 3),
        "readers_cpu_s": round(readers.cpu_seconds, 2),
    }


def _start(host: Devhost, thread_id: str, deltas: int) -> bool:
    try:
        response = requests.post(
            f"{host.url}/api/agent/run", json={"message": f"[stamps:{deltas}]", "thread_id": thread_id}, timeout=60
        )
    except requests.RequestException:
        return False
    return response.status_code == 202


async def _seed(store_env: dict[str, str], threads: list[str]) -> None:
    """Threads with one finished run each, written through the store API, so readers can follow them."""
    store = open_store(store_env)
    try:
        await asyncio.gather(*(seed_thread(store, thread_id, SEED_EVENTS) for thread_id in threads))
    finally:
        await store.close()
