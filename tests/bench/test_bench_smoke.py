"""The bench's code path, run tiny so it cannot rot. Figures are printed by `make bench`, never asserted."""

from __future__ import annotations

import json
from pathlib import Path

from bench.__main__ import run
from bench.report import ROWS
from bench.scenarios import PROFILES


def test_every_row_is_measured_and_written(tmp_path: Path) -> None:
    # Each reader the bench starts checks that it saw every stamped delta once, in order.
    report = run(["sqlite"], PROFILES["smoke"], tmp_path)

    rows = {row["key"]: row for row in report["backends"]["sqlite"]}
    assert set(rows) == {row.key for row in ROWS}
    for key, row in rows.items():
        # Relay overhead may come out below zero on a tiny answer; the rest is positive.
        assert row["value"] is not None and (row["value"] > 0 or key in ("reads_per_flush", "relay")), row
        assert row["verdict"] in ("pass", "FAIL", "info"), row
    # One SQLite transaction per writer flush, and nothing else (invariant 7).
    assert rows["writes_per_flush"]["value"] == 1.0
    assert rows["reads_per_flush"]["value"] == 0.0
    assert rows["deltas_per_second"]["samples"] == PROFILES["smoke"].throughput_deltas

    (written,) = tmp_path.glob("*-sqlite.json")
    assert json.loads(written.read_text()) == report
    assert report["machine"]["cores"] >= 1 and report["machine"]["cpu_model"]
