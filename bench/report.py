"""The table against the design's performance targets, and the JSON written next to it."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench.scenarios import Measure, Profile

Verdict = Callable[[str, Measure], tuple[str, str]]  # (backend, measure) -> (target text, "pass"/"FAIL"/"info")


def at_most(limits: dict[str, float], unit: str) -> Verdict:
    def verdict(backend: str, measure: Measure) -> tuple[str, str]:
        limit = limits.get(backend, limits["*"])
        target = f"<= {limit:g} {unit}"
        if measure.value is None:
            return target, "pending"
        return target, "pass" if measure.value <= limit else "FAIL"

    return verdict


def at_least(limit: float, unit: str) -> Verdict:
    def verdict(backend: str, measure: Measure) -> tuple[str, str]:
        target = f">= {limit:g} {unit}"
        if measure.value is None:
            return target, "pending"
        return target, "pass" if measure.value >= limit else "FAIL"

    return verdict


def no_target(backend: str, measure: Measure) -> tuple[str, str]:
    return "-", "info"


def independent_of_readers(backend: str, measure: Measure) -> tuple[str, str]:
    # "Independent" with room for noise: at most 1.5x the one-reader rate, plus one read per second.
    one = float(measure.detail["one_reader"])
    target = f"~ 1 reader ({one:.1f}/s)"
    if measure.value is None:
        return target, "pending"
    return target, "pass" if measure.value <= one * 1.5 + 1 else "FAIL"


LATENCY_P50 = {"*": 5.0, "table": 30.0}
LATENCY_P95 = {"*": 15.0, "table": 60.0}


@dataclass(frozen=True)
class Row:
    key: str
    label: str
    verdict: Verdict


ROWS = (
    Row("other_process_p50", "delivery p50, reader in another process", at_most(LATENCY_P50, "ms")),
    Row("other_process_p95", "delivery p95, reader in another process", at_most(LATENCY_P95, "ms")),
    Row("same_process_p50", "delivery p50, reader in the host process", at_most(LATENCY_P50, "ms")),
    Row("same_process_p95", "delivery p95, reader in the host process", at_most(LATENCY_P95, "ms")),
    Row("other_host_p50", "delivery p50, reader via a second host", no_target),
    # A second host learns of commits by polling on SQLite and Table: the Table target holds for all.
    Row("other_host_p95", "delivery p95, reader via a second host", at_most({"*": LATENCY_P95["table"]}, "ms")),
    Row("deltas_per_second", "sustained deltas/s, one unpaced run", at_least(500, "/s")),
    Row("writes_per_flush", "store writes per flush", at_most({"*": 1.0}, "")),
    Row("reads_per_flush", "store reads per flush (inside the append)", no_target),
    Row("deltas_per_flush", "deltas per flush, unpaced run", no_target),
    Row("p95", "delivery p95, {readers} readers of one thread", at_most({"*": 100.0}, "ms")),
    Row("reads_per_second", "store reads/s with {readers} readers", independent_of_readers),
    Row("rss", "host RSS after {readers} readers", no_target),
    Row("first_byte", "resume at {events:,} events: first byte", at_most({"*": 50.0}, "ms")),
    Row("first_event", "resume at {events:,} events: first event", at_most({"*": 50.0}, "ms")),
    Row("relay", "relay overhead, {tokens}-token answer", at_most({"*": 5.0}, "%")),
    Row("ttft_added_p50", "added time to first token p50 (vs the SDK direct)", no_target),
    Row("ttft_added_p95", "added time to first token p95 (vs the SDK direct)", at_most({"*": 30.0}, "ms")),
    Row("concurrent_runs", "concurrent runs at 40 deltas/s, p95 <= 100 ms", at_least(200, "runs")),
    Row("cpu_per_delta", "host CPU per delta at that load", no_target),
    Row("rss_per_run", "host RSS per run at that load", no_target),
    Row("store_ops_per_1k_tokens", "store round trips per 1,000 streamed tokens", no_target),
    Row("durable_ops_per_1k_tokens", "durable executions per 1,000 streamed tokens", no_target),
)


def evaluate(results: dict[str, dict[str, Measure]], profile: Profile) -> dict[str, list[dict[str, Any]]]:
    evaluated: dict[str, list[dict[str, Any]]] = {}
    for backend, measures in results.items():
        rows = []
        for row in ROWS:
            if row.key not in measures:
                continue
            measure = measures[row.key]
            target, verdict = row.verdict(backend, measure)
            label = row.label.format(
                readers=profile.fanout_readers, events=profile.resume_events, tokens=profile.relay_tokens
            )
            rows.append({"key": row.key, "metric": label, "target": target, "verdict": verdict, **asdict(measure)})
        evaluated[backend] = rows
    return evaluated


def _value(row: dict[str, Any]) -> str:
    value, unit = row["value"], row["unit"]
    if value is None:
        return ""
    if unit == "ms":
        text = f"{value:.2f}" if value < 10 else f"{value:.1f}"
    elif unit in ("deltas/s", "runs"):
        text = f"{value:.0f}"
    elif unit in ("MiB/run", "ms CPU/delta"):
        text = f"{value:.3f}"
    else:
        text = f"{value:.2f}" if value < 10 else f"{value:.1f}"
    return f"{text} {unit}"


def format_table(evaluated: dict[str, list[dict[str, Any]]]) -> str:
    backends = list(evaluated)
    keyed = {backend: {row["key"]: row for row in rows} for backend, rows in evaluated.items()}
    lines = [["metric", "target", *backends]]
    for row in ROWS:
        present = [keyed[b][row.key] for b in backends if row.key in keyed[b]]
        if not present:
            continue
        targets = sorted({p["target"] for p in present})
        cells = []
        for backend in backends:
            cell = keyed[backend].get(row.key)
            if cell is None:
                cells.append("")
                continue
            mark = "" if cell["verdict"] == "info" else f" {cell['verdict']}"
            own_target = f" [{cell['target']}]" if len(targets) > 1 else ""
            cells.append(f"{_value(cell)}{mark}{own_target}".strip())
        lines.append([present[0]["metric"], targets[0] if len(targets) == 1 else "per backend", *cells])
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]))]
    rendered = [" | ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)) for line in lines]
    rendered.insert(1, "-+-".join("-" * width for width in widths))
    return "\n".join(rendered)


def machine_info() -> dict[str, Any]:
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    memory = next(
        (int(line.split()[1]) // 1024 for line in Path("/proc/meminfo").read_text().splitlines() if "MemTotal" in line),
        None,
    )
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False)
    return {
        "cpu_model": cpu,
        "cores": os.cpu_count(),
        "memory_mib": memory,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "commit": commit.stdout.strip() or None,
    }


def write_json(report: dict[str, Any], out_dir: Path, backends: list[str]) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    name = backends[0] if len(backends) == 1 else "all"
    path = out_dir / f"{time.strftime('%Y-%m-%d', time.gmtime())}-{name}.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    return path


# Above this share of the machine's CPU used by other processes, the figures are marked noisy.
NOISY_PERCENT = 10.0


class CPUUsage:
    """How busy the machine was while the bench ran, and how much of that was not the bench.

    The bench's own share is this process plus its children (devhosts, readers, store servers),
    all waited for by the end; the rest of the machine's busy time is other work.
    """

    def __init__(self) -> None:
        self._machine = _machine_ticks()
        self._own = _own_seconds()

    def stop(self) -> dict[str, float]:
        busy, total = (end - start for start, end in zip(self._machine, _machine_ticks(), strict=True))
        ticks = os.sysconf("SC_CLK_TCK")
        own = _own_seconds() - self._own
        return {
            "cpu_busy_percent": round(100 * busy / total, 1),
            "others_cpu_percent": round(max(0.0, 100 * (busy / ticks - own) / (total / ticks)), 1),
        }


def _machine_ticks() -> tuple[int, int]:
    """Machine-wide (busy, total) CPU ticks since boot, from /proc/stat."""
    ticks = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = ticks[3] + ticks[4]  # idle + iowait
    return sum(ticks) - idle, sum(ticks)


def _own_seconds() -> float:
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system
