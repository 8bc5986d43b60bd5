"""The history the engine writes for the protocol notes' §7 worked example matches the table there."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

from devhost.durable.events import parse_event_time
from tests.devhost.harness import client_for, run, running_engine, wait_for_status, wait_until

DONE = {"Completed", "Failed", "Terminated"}

# The notes' §7 table: (EventType, EventId, link to the scheduling event) per history index.
WORKED_EXAMPLE: list[tuple[int, int, dict[str, Any]]] = [
    (12, -1, {}),
    (0, -1, {"Name": "agent_orch", "Input": json.dumps(json.dumps({"q": "hi"}))}),
    (4, 0, {"Name": "A"}),
    (13, -1, {}),
    (12, -1, {}),
    (5, -1, {"TaskScheduledId": 0, "Result": '"A#1"'}),
    (13, -1, {}),
    (12, -1, {}),
    (15, -1, {"Name": "tool_result", "Input": json.dumps(json.dumps({"tool": "ok"}))}),
    (4, 1, {"Name": "A"}),
    (13, -1, {}),
    (12, -1, {}),
    (6, -1, {"TaskScheduledId": 1}),
    (10, 2, {}),
    (13, -1, {}),
    (12, -1, {}),
    (11, -1, {"TimerId": 2}),
    (4, 3, {"Name": "A"}),
    (13, -1, {}),
    (12, -1, {}),
    (5, -1, {"TaskScheduledId": 3, "Result": '{"ok": true}'}),
    (1, 4, {"OrchestrationStatus": 1, "Result": '{"x":"A#1","ev":"{\\"tool\\": \\"ok\\"}","r":{"ok":true}}'}),
    (13, -1, {}),
]


def test_history_matches_worked_example(tmp_path: Path) -> None:
    async def body() -> None:
        async with running_engine(tmp_path / "d.db") as engine:
            client = client_for(engine)
            await client.start_new("agent_orch", "inst1", {"q": "hi"})
            await wait_until(lambda: len(engine.management.history("inst1")) >= 7)
            await client.raise_event("inst1", "tool_result", {"tool": "ok"})
            status = await wait_for_status(client, "inst1", DONE)
            assert status.output == {"x": "A#1", "ev": '{"tool": "ok"}', "r": {"ok": True}}
            assert status.custom_status == {"phase": "done"}
            history = engine.management.history("inst1")
            actual = [(e["EventType"], e["EventId"]) for e in history]
            assert actual == [(kind, event_id) for kind, event_id, _ in WORKED_EXAMPLE]
            for event, (_, _, fields) in zip(history, WORKED_EXAMPLE, strict=True):
                assert {k: event[k] for k in fields} == fields
            # The extension's reason: the host's message for the worker's exception, traceback included.
            reason = history[12]["Reason"]
            assert reason.startswith("Activity function 'A' failed: Result: Failure\nException: ValueError: flaky\n")
            assert "\nStack: Traceback (most recent call last):\n" in reason
            assert json.loads(history[12]["Details"])["Message"] == reason.removeprefix(
                "Activity function 'A' failed: "
            )
            retry_fire_at = parse_event_time(history[13]["FireAt"])
            assert retry_fire_at - parse_event_time(history[11]["Timestamp"]) == timedelta(milliseconds=50)
            shown = await client.get_status("inst1", show_history=True, show_history_output=True)
            assert shown.runtime_status.value == "Completed"

    run(body)
