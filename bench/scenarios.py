"""The measurements, one function per row group of the table.

Each drives devhost processes over loopback HTTP. Runs on a thread are started with
`[stamps:N]` (see `bench.stamps`); readers connect before the run starts (`?follow=1` from the
thread's end), so every delta they see is live, never backlog.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import openai
import requests
from ag_ui.core import (
    RunFinishedEvent,
    RunStartedEvent,
    TextMessageContentEvent,
    TextMessageEndEvent,
    TextMessageStartEvent,
)

from agentstream.log.events import NewEvent
from agentstream.log.stores import EventStore
from agentstream.log.stores.base import RunStatus
from agentstream_client.sse import SSEDecoder
from bench.backends import open_store
from bench.instruments import cpu_seconds, rss_kib
from bench.stamps import CONTENT, Reception, is_terminal, median, percentile
from tests.harness import ROOT, Devhost
from tests.openai_server import OpenAIServer, Reply


class BenchError(RuntimeError):
    pass


@dataclass(frozen=True)
class Profile:
    name: str
    paced_rate: float  # demo tokens per second for the latency and fan-out runs
    latency_runs: int
    latency_deltas: int
    throughput_runs: int
    throughput_deltas: int
    fanout_readers: int
    fanout_runs: int
    fanout_deltas: int
    resume_events: int
    resume_requests: int
    relay_tokens: int
    relay_runs: int


PROFILES = {
    "full": Profile("full", 100, 5, 300, 3, 5000, 500, 3, 300, 100_000, 30, 500, 3),
    "quick": Profile("quick", 100, 2, 100, 1, 2000, 500, 1, 200, 100_000, 10, 500, 1),
    # Just enough to exercise every code path (the test suite runs it).
    "smoke": Profile("smoke", 200, 1, 10, 1, 50, 3, 1, 10, 200, 2, 20, 1),
}


@dataclass
class Measure:
    """One measured value: the median over runs, with how many runs and samples it came from."""

    value: float | None
    unit: str
    runs: int = 0
    samples: int = 0
    detail: dict[str, Any] = field(default_factory=dict)


# -- talking to a host --------------------------------------------------------------------------


def start_stamped_run(host: Devhost, thread_id: str, deltas: int) -> str:
    return str(host.start_run(f"[stamps:{deltas}]", thread_id=thread_id)["run_id"])


def last_event_id(host: Devhost, thread_id: str) -> int:
    return int(host.status(thread_id)["last_event_id"])


def counters(host: Devhost) -> dict[str, Any]:
    response = requests.get(f"{host.url}/api/bench/counters", timeout=30)
    response.raise_for_status()
    return dict(response.json())


def new_thread(host: Devhost) -> str:
    """A thread with one finished run, so readers can follow it before the measured run starts."""
    thread_id = str(host.start_run("[stamps:3]")["thread_id"])
    host.wait_idle(thread_id, timeout=60)
    return thread_id


class Readers:
    """`bench.readers` in a subprocess: `count` SSE readers following a thread from its end."""

    def __init__(self, host: Devhost, thread_id: str, after: int, count: int) -> None:
        url = f"{host.url}/api/agent/stream/{thread_id}?follow=1&after={after}"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bench.readers", url, "--count", str(count)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.cpu_seconds = 0.0

    def wait_ready(self) -> None:
        assert self.process.stdout is not None
        if self.process.stdout.readline().strip() != "ready":
            self.process.wait(timeout=30)
            assert self.process.stderr is not None
            raise BenchError(f"bench.readers failed:\n{self.process.stderr.read()}")

    def result(self, timeout: float = 300) -> list[Reception]:
        out, err = self.process.communicate(timeout=timeout)
        if self.process.returncode != 0:
            raise BenchError(f"bench.readers exited with {self.process.returncode}:\n{err}")
        body = json.loads(out)
        self.cpu_seconds = float(body["cpu_s"])
        return [Reception.from_json(reception) for reception in body["receptions"]]


class Listener:
    """A reader inside the host process, through its own tail hub (see `bench.app`)."""

    def __init__(self, host: Devhost, thread_id: str) -> None:
        self.host = host
        response = requests.post(f"{host.url}/api/bench/listeners", json={"thread_id": thread_id}, timeout=60)
        response.raise_for_status()
        self.listener_id = response.json()["listener_id"]

    def result(self) -> Reception:
        response = requests.get(f"{self.host.url}/api/bench/listeners/{self.listener_id}", timeout=300)
        response.raise_for_status()
        return Reception.from_json(response.json())


def checked(reception: Reception, deltas: int, where: str) -> list[float]:
    """Latencies of one reader, after checking it saw every delta once, in order."""
    if len(reception.stamped_ns) != deltas or not reception.contiguous():
        raise BenchError(f"{where}: expected {deltas} deltas with contiguous ids, got {len(reception.stamped_ns)}")
    return reception.latencies_ms()


# -- added delivery latency ---------------------------------------------------------------------


def delivery_latency(host: Devhost, other_host: Devhost, profile: Profile) -> dict[str, Measure]:
    """Readers in the host's process, in another process, and behind another host on the same store."""
    thread_id = new_thread(host)
    per_run: dict[str, list[tuple[float, float]]] = {"same_process": [], "other_process": [], "other_host": []}
    for _ in range(profile.latency_runs):
        after = last_event_id(host, thread_id)
        listener = Listener(host, thread_id)
        outside = Readers(host, thread_id, after, 1)
        behind = Readers(other_host, thread_id, after, 1)
        outside.wait_ready()
        behind.wait_ready()
        start_stamped_run(host, thread_id, profile.latency_deltas)
        samples = {
            "other_process": checked(outside.result()[0], profile.latency_deltas, "reader in another process"),
            "other_host": checked(behind.result()[0], profile.latency_deltas, "reader behind another host"),
            "same_process": checked(listener.result(), profile.latency_deltas, "reader in the host process"),
        }
        for kind, latencies in samples.items():
            per_run[kind].append((percentile(latencies, 0.5), percentile(latencies, 0.95)))
        host.wait_idle(thread_id, timeout=60)
    measures: dict[str, Measure] = {}
    for kind, runs in per_run.items():
        for index, name in ((0, "p50"), (1, "p95")):
            measures[f"{kind}_{name}"] = Measure(
                median(r[index] for r in runs),
                "ms",
                runs=len(runs),
                samples=profile.latency_deltas,
                detail={"per_run": [round(r[index], 3) for r in runs], "rate": profile.paced_rate},
            )
    return measures


# -- sustained deltas/s and store writes per flush -----------------------------------------------


def throughput(host: Devhost, profile: Profile) -> dict[str, Measure]:
    """One unpaced run: deltas per second as a reader in another process receives them."""
    thread_id = new_thread(host)
    rates: list[float] = []
    per_flush: list[float] = []
    reads_per_flush: list[float] = []
    deltas_per_flush: list[float] = []
    for _ in range(profile.throughput_runs):
        readers = Readers(host, thread_id, last_event_id(host, thread_id), 1)
        readers.wait_ready()
        before = counters(host)
        start_stamped_run(host, thread_id, profile.throughput_deltas)
        reception = readers.result()[0]
        checked(reception, profile.throughput_deltas, "reader of the unpaced run")
        host.wait_idle(thread_id, timeout=120)
        after = counters(host)
        seconds = (reception.received_ns[-1] - reception.stamped_ns[0]) / 1e9
        rates.append(profile.throughput_deltas / seconds)
        appends = after["appends"] - before["appends"]
        deltas_per_flush.append(profile.throughput_deltas / appends)
        if after["append_round_trips"] is not None:
            trips = {
                kind: n - before["append_round_trips"].get(kind, 0) for kind, n in after["append_round_trips"].items()
            }
            per_flush.append(trips.get("write", 0) / appends)
            reads_per_flush.append(trips.get("read", 0) / appends)
    runs = profile.throughput_runs
    return {
        "deltas_per_second": Measure(
            median(rates), "deltas/s", runs, profile.throughput_deltas, {"per_run": [round(r) for r in rates]}
        ),
        "writes_per_flush": Measure(
            median(per_flush) if per_flush else None,
            "writes/flush",
            runs,
            profile.throughput_deltas,
            {"per_run": per_flush},
        ),
        "reads_per_flush": Measure(
            median(reads_per_flush) if reads_per_flush else None,
            "reads/flush",
            runs,
            profile.throughput_deltas,
            {"per_run": reads_per_flush},
        ),
        "deltas_per_flush": Measure(
            median(deltas_per_flush), "deltas/flush", runs, profile.throughput_deltas, {"per_run": deltas_per_flush}
        ),
    }


# -- many readers of one thread -----------------------------------------------------------------


def fanout(host: Devhost, profile: Profile) -> dict[str, Measure]:
    """p95 delivery with many readers of one thread; store reads/s with them and with one; host RSS."""
    assert host.process is not None
    pid = host.process.pid
    thread_id = new_thread(host)
    results: dict[int, list[dict[str, float]]] = {1: [], profile.fanout_readers: []}
    for count in (1, profile.fanout_readers):
        for _ in range(profile.fanout_runs):
            idle_rss = rss_kib(pid)
            readers = Readers(host, thread_id, last_event_id(host, thread_id), count)
            readers.wait_ready()
            rss = _RSSSampler(pid)
            before, host_cpu = counters(host), cpu_seconds(pid)
            start_stamped_run(host, thread_id, profile.fanout_deltas)
            receptions = readers.result()
            after, host_cpu = counters(host), cpu_seconds(pid) - host_cpu
            peak = rss.stop()
            latencies = [
                ms
                for i, reception in enumerate(receptions)
                for ms in checked(reception, profile.fanout_deltas, f"reader {i + 1} of {count}")
            ]
            seconds = after["time"] - before["time"]
            results[count].append(
                {
                    "p95": percentile(latencies, 0.95),
                    "p50": percentile(latencies, 0.5),
                    "reads_per_second": (after["reads"] - before["reads"]) / seconds,
                    "added_rss_mib": (peak - idle_rss) / 1024,
                    "host_cpu_percent": 100 * host_cpu / seconds,
                    "readers_cpu_s": readers.cpu_seconds,
                    "seconds": seconds,
                }
            )
            host.wait_idle(thread_id, timeout=120)
    many, one = results[profile.fanout_readers], results[1]
    runs = [{name: round(value, 2) for name, value in run.items()} for run in many]
    return {
        "p95": Measure(
            median(r["p95"] for r in many),
            "ms",
            len(many),
            profile.fanout_deltas * profile.fanout_readers,
            {"readers": profile.fanout_readers, "per_run": runs, "one_reader_per_run": one},
        ),
        "reads_per_second": Measure(
            median(r["reads_per_second"] for r in many),
            "reads/s",
            len(many),
            detail={"one_reader": median(r["reads_per_second"] for r in one)},
        ),
        "rss": Measure(round(rss_kib(pid) / 1024, 1), "MiB", len(many)),
    }


class _RSSSampler:
    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak = rss_kib(pid)
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._done.wait(0.1):
            self.peak = max(self.peak, rss_kib(self.pid))

    def stop(self) -> int:
        self._done.set()
        self._thread.join()
        return max(self.peak, rss_kib(self.pid))


# -- resume near the end of a long thread -------------------------------------------------------


def resume(host: Devhost, backend: str, store_env: dict[str, str], profile: Profile) -> dict[str, Measure]:
    """Seed a thread of `resume_events` events through the store API, then time `?after=<end - 10>`."""
    thread_id = f"bench-resume-{secrets.token_hex(6)}"
    seed_seconds = asyncio.run(_seed(open_store(store_env), thread_id, profile.resume_events))
    after = profile.resume_events - 10
    first_bytes: list[float] = []
    first_events: list[float] = []
    for _ in range(profile.resume_requests):
        first_byte, first_event = _time_resume(host, f"/api/agent/stream/{thread_id}?after={after}", after + 1)
        first_bytes.append(first_byte)
        first_events.append(first_event)
    count = profile.resume_requests
    return {
        "first_byte": Measure(
            median(first_bytes),
            "ms",
            1,
            count,
            {"p95": round(percentile(first_bytes, 0.95), 3), "events": profile.resume_events, "seed_s": seed_seconds},
        ),
        "first_event": Measure(median(first_events), "ms", 1, count, {"p95": round(percentile(first_events, 0.95), 3)}),
    }


async def _seed(store: EventStore, thread_id: str, total: int) -> float:
    """A finished run of exactly `total` events, written in batches as the writer would."""
    started = time.monotonic()
    try:
        run_id = secrets.token_hex(16)
        message_id = secrets.token_hex(8)
        await store.start_run(
            thread_id,
            run_id,
            [NewEvent.of(RunStartedEvent(thread_id=thread_id, run_id=run_id))],
            [],
            create=True,
            agent="default",
        )
        content = total - 4  # RUN_STARTED, TEXT_MESSAGE_START, TEXT_MESSAGE_END, RUN_FINISHED
        batch = [NewEvent.of(TextMessageStartEvent(message_id=message_id, role="assistant"))]
        for index in range(content):
            batch.append(NewEvent.of(TextMessageContentEvent(message_id=message_id, delta=f"token {index} ")))
            if len(batch) == 1000:
                await store.append(thread_id, run_id, batch, key=f"seed:{index}")
                batch = []
        batch.append(NewEvent.of(TextMessageEndEvent(message_id=message_id)))
        await store.append(thread_id, run_id, batch, key="seed:end")
        finished = NewEvent.of(RunFinishedEvent(thread_id=thread_id, run_id=run_id))
        envelopes = await store.finish_run(thread_id, run_id, RunStatus.SUCCEEDED, [finished])
        if envelopes[-1].seq != total:
            raise BenchError(f"seeded thread ends at {envelopes[-1].seq}, expected {total}")
    finally:
        await store.close()
    return round(time.monotonic() - started, 2)


def _time_resume(host: Devhost, path: str, first_id: int) -> tuple[float, float]:
    """Milliseconds from sending the request to its first response byte, and to the first event."""
    wanted = f"id: {first_id}\n".encode()
    with socket.create_connection(("127.0.0.1", host.port), timeout=30) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\nConnection: close\r\n\r\n"
        started = time.perf_counter()
        sock.sendall(request.encode())
        received = b""
        first_byte: float | None = None
        while wanted not in received:
            chunk = sock.recv(65536)
            if not chunk:
                raise BenchError(f"GET {path} ended before event {first_id}: {received[:300]!r}")
            if first_byte is None:
                first_byte = (time.perf_counter() - started) * 1000
            received += chunk
        first_event = (time.perf_counter() - started) * 1000
    if not received.startswith(b"HTTP/1.1 200"):
        raise BenchError(f"GET {path} answered {received[:200]!r}")
    assert first_byte is not None
    return first_byte, first_event


# -- the relay ------------------------------------------------------------------------------------


def relay_overhead(workdir: Path, store_env: dict[str, str], profile: Profile) -> dict[str, Measure]:
    """The same answer read straight from a model server with the `openai` SDK, and through agentstream.

    The model server is the tests' OpenAI-compatible one, streaming `relay_tokens` words paced at
    `paced_rate`; devhost runs with MODEL_PROVIDER=openai against it. Direct and relayed reads
    alternate, and the overhead is the median of each pair's relative difference in end-to-end time.
    """
    server = OpenAIServer().start()
    try:
        env = {
            **store_env,
            "MODEL_PROVIDER": "openai",
            "OPENAI_API_KEY": server.api_key,
            "OPENAI_BASE_URL": server.base_url,
            "OPENAI_MODEL": "bench",
        }
        host = Devhost(workdir / "relay-host", env, app="bench.app").start()
        client = openai.OpenAI(base_url=server.base_url, api_key=server.api_key, max_retries=0)
        try:
            reply = Reply(
                text=" ".join(f"token{i}" for i in range(profile.relay_tokens)), chunk_delay=1 / profile.paced_rate
            )
            # A short answer each way first warms connections and code paths up.
            server.script(Reply(text="warm up"))
            _direct(client, 2)
            server.script(Reply(text="warm up"))
            _relayed(host, 2)
            pairs: list[tuple[Timing, Timing]] = []
            for _ in range(profile.relay_runs):
                server.script(reply)
                direct = _direct(client, profile.relay_tokens)
                server.script(reply)
                pairs.append((direct, _relayed(host, profile.relay_tokens)))
        finally:
            client.close()
            host.stop()
    finally:
        server.stop()
    overheads = [100 * (relayed.end - direct.end) / direct.end for direct, relayed in pairs]

    def seconds(values: list[float]) -> list[float]:
        return [round(v, 3) for v in values]

    return {
        "relay": Measure(
            median(overheads),
            "%",
            len(pairs),
            profile.relay_tokens,
            {
                "per_run": [round(o, 2) for o in overheads],
                "rate": profile.paced_rate,
                # Where the difference goes: before the first delta, and after the last one.
                "direct_s": seconds([d.end for d, _ in pairs]),
                "relayed_s": seconds([r.end for _, r in pairs]),
                "direct_first_delta_s": seconds([d.first_delta for d, _ in pairs]),
                "relayed_first_delta_s": seconds([r.first_delta for _, r in pairs]),
                "direct_after_last_delta_s": seconds([d.end - d.last_delta for d, _ in pairs]),
                "relayed_after_last_delta_s": seconds([r.end - r.last_delta for _, r in pairs]),
            },
        )
    }


@dataclass
class Timing:
    """Seconds from the request to the first text delta, to the last one, and to the end."""

    first_delta: float = 0.0
    last_delta: float = 0.0
    end: float = 0.0


def _direct(client: openai.OpenAI, tokens: int) -> Timing:
    """The model's stream read with the `openai` SDK, to its end."""
    timing = Timing()
    deltas = 0
    started = time.perf_counter()
    stream = client.chat.completions.create(
        model="bench", messages=[{"role": "user", "content": "Answer at length."}], stream=True
    )
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            timing.last_delta = time.perf_counter() - started
            timing.first_delta = timing.first_delta or timing.last_delta
            deltas += 1
    timing.end = time.perf_counter() - started
    if deltas != tokens:
        raise BenchError(f"read {deltas} deltas straight from the model server, expected {tokens}")
    return timing


def _relayed(host: Devhost, tokens: int) -> Timing:
    """A run started and read in one request (`Accept: text/event-stream`), to its terminal event."""
    timing = Timing()
    ids: list[int] = []
    content = 0
    finished = False
    started = time.perf_counter()
    with requests.post(
        f"{host.url}/api/agent/run",
        json={"message": "Answer at length."},
        headers={"Accept": "text/event-stream"},
        stream=True,
        timeout=120,
    ) as response:
        if response.status_code != 200:
            raise BenchError(f"POST /api/agent/run answered {response.status_code}: {response.text}")
        decoder = SSEDecoder()
        for chunk in response.iter_content(chunk_size=None):
            for event in decoder.decode(chunk):
                if event.id is None:
                    continue
                ids.append(int(event.id))
                if CONTENT in event.data:
                    content += 1
                    # The first text content is the user's message; the answer's deltas follow.
                    if content > 1:
                        timing.last_delta = time.perf_counter() - started
                        timing.first_delta = timing.first_delta or timing.last_delta
                finished = finished or is_terminal(event.data)
            if finished:
                break
    timing.end = time.perf_counter() - started
    if content != tokens + 1 or ids != list(range(1, len(ids) + 1)):
        raise BenchError(f"relayed run streamed {content} text deltas, expected {tokens} and the message")
    return timing
