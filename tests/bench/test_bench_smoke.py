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
        # Relay overhead may come out below zero on a tiny answer; the rest is positive.
        assert row["value"] is not None and (row["value"] > 0 or key in ("reads_per_flush", "relay")), row
        assert row["verdict"] in ("pass", "FAIL", "info"), row
        assert row["metric"] in finished.stdout
    # One SQLite transaction per writer flush, and nothing else (invariant 7).
    assert rows["writes_per_flush"]["value"] == 1.0
    assert rows["reads_per_flush"]["value"] == 0.0
    assert rows["deltas_per_second"]["samples"] == PROFILES["smoke"].throughput_deltas
    assert report["machine"]["cores"] >= 1 and report["machine"]["cpu_model"]
