"""ag-ui-validate, an external AG-UI conformance suite, over live responses of the AG-UI endpoint
and of the plain stream: lifecycle, text, tool-call and transport rules, with no findings at all."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import requests
from ag_ui_validate.transport import TransportOptions, TransportResult, validate_endpoint
from ag_ui_validate.types import ValidatorOptions

from tests.agui.stream import AGUI_PATH, read_until_contents
from tests.harness import Devhost

LONG = " ".join(["word"] * 400)


def validate(url: str, **options: Any) -> TransportResult:
    transport = TransportOptions(validator=ValidatorOptions(), timeout_ms=60_000, **options)
    return asyncio.run(validate_endpoint(url, transport))


def assert_no_findings(result: TransportResult, *, at_least: int) -> None:
    assert [(d.rule, d.message) for d in result.report.diagnostics] == []
    assert result.report.internal_errors == []
    assert result.status == 200 and result.event_count >= at_least


def test_the_validators_own_default_input(agui_host: Devhost) -> None:
    assert_no_findings(validate(f"{agui_host.url}{AGUI_PATH}"), at_least=5)


def test_a_run_with_parallel_tool_calls(agui_host: Devhost) -> None:
    body = {
        "threadId": f"v-{uuid.uuid4().hex[:8]}",
        "runId": "tools",
        "messages": [{"id": "u1", "role": "user", "content": "The weather in Oslo and the time, please."}],
    }
    result = validate(f"{agui_host.url}{AGUI_PATH}", input=body)
    assert_no_findings(result, at_least=20)


def test_a_run_that_reasons_and_stops_on_a_frontend_tool_call(agui_host: Devhost) -> None:
    confirm = {
        "name": "confirm_booking",
        "description": "Ask the user to confirm a booking.",
        "parameters": {"type": "object", "properties": {"summary": {"type": "string"}}, "required": ["summary"]},
    }
    body = {
        "threadId": f"v-{uuid.uuid4().hex[:8]}",
        "runId": "frontend",
        "messages": [{"id": "u1", "role": "user", "content": "Think, then confirm_booking please."}],
        "tools": [confirm],
    }
    assert_no_findings(validate(f"{agui_host.url}{AGUI_PATH}", input=body), at_least=10)


def test_a_failing_run_with_discarded_attempts(agui_host: Devhost) -> None:
    body = {
        "threadId": f"v-{uuid.uuid4().hex[:8]}",
        "runId": "failing",
        "messages": [{"id": "u1", "role": "user", "content": "[fail:model]"}],
    }
    assert_no_findings(validate(f"{agui_host.url}{AGUI_PATH}", input=body), at_least=10)


def test_a_join_mid_run_and_a_replay_of_the_idle_thread(agui_host: Devhost) -> None:
    thread = f"v-{uuid.uuid4().hex[:8]}"
    messages = [{"id": "u1", "role": "user", "content": LONG}]
    read_until_contents(agui_host, {"threadId": thread, "messages": messages}, 5)
    joined = validate(f"{agui_host.url}{AGUI_PATH}", input={"threadId": thread, "runId": "x", "messages": messages})
    assert_no_findings(joined, at_least=10)
    replayed = validate(f"{agui_host.url}{AGUI_PATH}", input={"threadId": thread, "runId": "y", "messages": []})
    assert_no_findings(replayed, at_least=3)


def test_the_plain_stream_of_a_run_and_of_a_whole_thread(agui_host: Devhost) -> None:
    started = requests.post(
        f"{agui_host.url}/api/agent/run", json={"message": "Weather in Lima, and calculate 6*7"}, timeout=10
    ).json()
    assert_no_findings(validate(f"{agui_host.url}{started['stream_url']}", method="GET"), at_least=20)
    for message in ("Thanks!", "And the time?"):
        requests.post(
            f"{agui_host.url}/api/agent/run", json={"message": message, "thread_id": started["thread_id"]}, timeout=10
        )
        agui_host.wait_idle(started["thread_id"])
    # Three runs: the middle one's closing snapshot comes compact, as a CUSTOM event.
    whole_thread = validate(f"{agui_host.url}/api/agent/stream/{started['thread_id']}", method="GET")
    assert_no_findings(whole_thread, at_least=40)
    types = [(e.type, e.body.get("name")) for e in agui_host.stream(f"/api/agent/stream/{started['thread_id']}")]
    assert types.count(("CUSTOM", "agentstream.messages_snapshot")) == 1
    assert types.count(("MESSAGES_SNAPSHOT", None)) == 2
