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

from agentstream.functions.orchestration import run_instance_id
from tests.harness import Devhost, wait_until

HISTORIES = Path(__file__).with_name("histories")
SCENARIOS = {
    "chat": "Hello there.",
    "parallel_tools": "What is the weather in Paris, and what time is it?",
    "model_failure": "Break please [fail:model]",
    "cancelled": "A long answer, cancelled right away.",
    "client_tool": "Please confirm_booking for two.",
}
BOOKING_TOOL = {
    "name": "confirm_booking",
    "description": "Ask the user to confirm a booking.",
    "parameters": {"type": "object", "properties": {"note": {"type": "string"}}, "required": ["note"]},
}


def main() -> None:
    HISTORIES.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        host = Devhost(Path(tmp) / "data", {"STEP_RETRY_INTERVAL_MS": "1000", "DEMO_TOKENS_PER_SECOND": "50"}).start()
        try:
            for name, message in SCENARIOS.items():
                started = host.start_run(message, **({"tools": [BOOKING_TOOL]} if name == "client_tool" else {}))
                if name == "cancelled":
                    requests.post(f"{host.url}{started['cancel_url']}", timeout=10).raise_for_status()
                if name == "client_tool":
                    answer_client_tool(host, started)
                host.wait_idle(started["thread_id"], timeout=60)
                with sqlite3.connect(host.data_dir / "durable.db") as con:
                    rows = con.execute(
                        "SELECT event FROM history WHERE instance_id = ? ORDER BY seq",
                        (run_instance_id(started["thread_id"], started["run_id"]),),
                    ).fetchall()
                history = [json.loads(row[0]) for row in rows]
                (HISTORIES / f"{name}.json").write_text(json.dumps(history, indent=1) + "\n")
        finally:
            host.stop()


def answer_client_tool(host: Devhost, started: dict[str, str]) -> None:
    def pending_call() -> str | None:
        for message in host.status(started["thread_id"])["messages"]:
            for call in message.get("toolCalls", []):
                return str(call["id"])
        return None

    call_id = wait_until(pending_call, timeout=30, message="the client-side tool call")
    requests.post(
        f"{host.url}{started['tool_results_url']}",
        json={"results": [{"toolCallId": call_id, "content": "booked"}]},
        timeout=10,
    ).raise_for_status()


if __name__ == "__main__":
    main()
