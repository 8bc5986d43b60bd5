"""The bench's code path, run tiny so it cannot rot. Figures are printed by `make bench`, never asserted."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from bench.report import ROWS
from bench.scenarios import PROFILES
from tests.harness import ROOT


def test_every_row_is_measured_and_written(tmp_path: Path) -> None:
    # In its own process, as `make bench` runs it. Each reader the bench starts checks that it saw
    # every stamped delta once, in order.
    command = [sys.executable, "-m", "bench", "--profile", "smoke", "--backends", "sqlite", "--out", str(tmp_path)]
    finished = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=110)
    assert finished.returncode == 0, finished.stdout + finished.stderr
    (written,) = tmp_path.glob("*-sqlite.json")
    report = json.loads(written.read_text())

    rows = {row["key"]: row for row in report["backends"]["sqlite"]}
    assert set(rows) == {row.key for row in ROWS}
    for key, row in rows.items():
        # Relay overhead and the added time to first token may come out below zero on a tiny
        # answer, and RSS may not grow for a few runs; the rest is positive.
        below_zero = ("reads_per_flush", "relay", "ttft_added_p50", "ttft_added_p95", "rss_per_run")
        assert row["value"] is not None and (row["value"] > 0 or key in below_zero), row
        assert row["verdict"] in ("pass", "FAIL", "info"), row
        assert row["metric"] in finished.stdout
        assert row["target"] in finished.stdout
    # One SQLite transaction per writer flush, and nothing else (invariant 7).
    assert rows["writes_per_flush"]["value"] == 1.0
    assert rows["reads_per_flush"]["value"] == 0.0
    assert rows["deltas_per_second"]["samples"] == PROFILES["smoke"].throughput_deltas
    assert report["machine"]["cores"] >= 1 and report["machine"]["cpu_model"]
    # The concurrency steps go up until one does not hold; at smoke sizes every one holds.
    steps = rows["concurrent_runs"]["detail"]["steps"]
    assert [step["runs"] for step in steps] == list(PROFILES["smoke"].concurrency_steps)
    assert all(step["errors"] == 0 for step in steps), steps
    assert rows["concurrent_runs"]["value"] == max(PROFILES["smoke"].concurrency_steps)
    # A run is one orchestration start, a model step and the run's end: durable work is counted.
    durable = rows["durable_ops_per_1k_tokens"]["detail"]
    assert durable["episodes"] > 0 and durable["activities"] > 0, durable
    assert rows["store_ops_per_1k_tokens"]["detail"]["store_calls"]["append"] > 0
    assert rows["ttft_added_p95"]["samples"] == PROFILES["smoke"].ttft_runs
