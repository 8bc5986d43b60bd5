"""Record the durable histories of real agent runs, for the replay tests.

Run from the project root after a deliberate change to the orchestration:
    .venv/bin/python -m tests.fidelity.record_histories
"""

from __future__ import annotations

import json
import sqlite3
import tempfile
from pathlib import Path

import requests

from tests.harness import Devhost

HISTORIES = Path(__file__).with_name("histories")
SCENARIOS = {
    "chat": "Hello there.",
    "parallel_tools": "What is the weather in Paris, and what time is it?",
    "model_failure": "Break please [fail:model]",
    "cancelled": "A long answer, cancelled right away.",
}


def main() -> None:
    HISTORIES.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        host = Devhost(Path(tmp) / "data", {"STEP_RETRY_INTERVAL_MS": "1000", "DEMO_TOKENS_PER_SECOND": "50"}).start()
        try:
            for name, message in SCENARIOS.items():
                started = host.start_run(message)
                if name == "cancelled":
                    requests.post(f"{host.url}{started['cancel_url']}", timeout=10).raise_for_status()
                host.wait_idle(started["thread_id"], timeout=60)
                with sqlite3.connect(host.data_dir / "durable.db") as con:
                    rows = con.execute(
                        "SELECT event FROM history WHERE instance_id = ? ORDER BY seq", (started["run_id"],)
                    ).fetchall()
                history = [json.loads(row[0]) for row in rows]
                (HISTORIES / f"{name}.json").write_text(json.dumps(history, indent=1) + "\n")
        finally:
            host.stop()


if __name__ == "__main__":
    main()
