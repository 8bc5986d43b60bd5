"""Tools that wait for approval, through the AI SDK's own approval flow (`addToolApprovalResponse`)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.aisdk.test_ai_sdk_client import conversation_of, run_ai_client, stored_conversation
from tests.harness import Devhost


@pytest.fixture(scope="module")
def approval_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Devhost, Path]]:
    folder = tmp_path_factory.mktemp("aisdk-approvals")
    log = folder / "approvals.log"
    log.touch()
    host = Devhost(folder / "data", {"APPROVAL_LOG": str(log)}, app="tests.e2e.approval_app").start()
    yield host, log
    host.stop()


@pytest.mark.parametrize("approved", [True, False])
def test_an_approval_answered_with_add_tool_approval_response_continues_the_message(
    approval_host: tuple[Devhost, Path], approved: bool
) -> None:
    host, log = approval_host
    chat = f"approve-{uuid.uuid4().hex[:8]}"
    text = f"Please refund {chat}"
    output = run_ai_client(
        "approve", {"url": host.url, "agent": "support", "chatId": chat, "text": text, "approved": approved}
    )
    assert output["status"] == "ready", output
    asked = output["asked"]["parts"][-1]
    assert asked["type"] == "tool-refund" and asked["state"] == "approval-requested"
    final = output["messages"][-1]
    assert final["id"] == output["asked"]["id"]
    refund = next(p for p in final["parts"] if p["type"] == "tool-refund")
    assert refund["state"] == "output-available"
    ran = [json.loads(line) for line in log.read_text().splitlines() if chat in line]
    if approved:
        assert refund["output"] == f"Refunded 1 EUR on {text}." and len(ran) == 1
    else:
        assert refund["output"].startswith("Declined") and ran == []
    status = host.status(chat)
    assert conversation_of(output["messages"]) == stored_conversation(status["messages"])
    loaded = requests.get(f"{host.url}/api/agents/support/chat/{chat}", timeout=10).json()["messages"]
    # The client keeps its answer on the part (`approval`); the loaded chat shows the call's outcome only.
    answered = {**refund}
    assert answered.pop("approval") == {"id": asked["approval"]["id"], "approved": approved}
    assert loaded[-1]["parts"] == [answered if p is refund else p for p in final["parts"]]
    assert loaded[:-1] == output["messages"][:-1]


def test_a_chat_waiting_for_approval_loads_with_the_approval_requested(approval_host: tuple[Devhost, Path]) -> None:
    host, _ = approval_host
    chat = f"waiting-{uuid.uuid4().hex[:8]}"
    body = {"id": chat, "messages": [{"id": "u1", "role": "user", "parts": [{"type": "text", "text": "refund it"}]}]}
    stream = requests.post(f"{host.url}/api/agents/support/chat", json=body, timeout=30).text
    chunks = [json.loads(f[6:]) for f in stream.split("\n\n") if f.startswith("data: {")]
    [request] = [c for c in chunks if c["type"] == "tool-approval-request"]
    loaded = requests.get(f"{host.url}/api/agents/support/chat/{chat}", timeout=10).json()["messages"]
    part = loaded[-1]["parts"][-1]
    assert part["state"] == "approval-requested" and part["approval"] == {"id": request["approvalId"]}
    # Until the approval is answered, a new message is refused.
    again = {
        **body,
        "messages": [*body["messages"], {"id": "u2", "role": "user", "parts": [{"type": "text", "text": "hi"}]}],
    }
    refused = requests.post(f"{host.url}/api/agents/support/chat", json=again, timeout=10)
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "interrupt_pending"
