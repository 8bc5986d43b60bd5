"""The AI SDK chat routes' answers to bad, conflicting and idle requests: the usual JSON errors, nothing written."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
import requests

from tests.harness import Devhost


def chat_url(host: Devhost, chat: str = "", agent: str = "assistant") -> str:
    return f"{host.url}/api/agents/{agent}/chat" + (f"/{chat}" if chat else "")


def body(chat: str, text: str = "hello", **extra: Any) -> dict[str, Any]:
    message = {"id": f"u-{uuid.uuid4().hex[:6]}", "role": "user", "parts": [{"type": "text", "text": text}]}
    return {"id": chat, "messages": [message], "trigger": "submit-message", **extra}


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"trigger": "regenerate-message"}, "unsupported_trigger"),
        ({"id": "not a valid id"}, "invalid_chat_id"),
        ({"temperature": 0.2}, "invalid_body"),
        ({"messages": []}, "invalid_body"),
        (
            {"messages": [{"id": "u1", "role": "user", "parts": [{"type": "file", "url": "x", "mediaType": "a/b"}]}]},
            "unsupported_content",
        ),
        ({"tools": [{"name": "get_weather", "description": "taken by a server tool"}]}, "invalid_tools"),
    ],
)
def test_a_bad_chat_request_is_refused_with_nothing_written(
    chat_host: Devhost, change: dict[str, Any], code: str
) -> None:
    chat = f"bad-{uuid.uuid4().hex[:8]}"
    response = requests.post(chat_url(chat_host), json={**body(chat), **change}, timeout=10)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == code
    assert requests.get(chat_url(chat_host, chat), timeout=10).status_code == 404


def test_a_chat_answers_409_while_a_run_is_active_and_to_another_agent(chat_host: Devhost) -> None:
    chat = f"busy-{uuid.uuid4().hex[:8]}"
    with requests.post(chat_url(chat_host), json=body(chat, "x " * 80), stream=True, timeout=10) as first:
        assert first.status_code == 200
        assert first.headers["x-vercel-ai-ui-message-stream"] == "v1"
        again = requests.post(chat_url(chat_host), json=body(chat), timeout=10)
        assert again.status_code == 409 and again.json()["error"]["code"] == "run_active"
        other = requests.post(chat_url(chat_host, agent="editor"), json=body(chat), timeout=10)
        assert other.status_code == 409 and other.json()["error"]["code"] == "agent_mismatch"
        frames = first.text.split("\n\n")
    assert frames[-2:] == ["data: [DONE]", ""]


def test_resending_only_what_the_chat_holds_is_refused(chat_host: Devhost) -> None:
    chat = f"same-{uuid.uuid4().hex[:8]}"
    request = body(chat)
    assert requests.post(chat_url(chat_host), json=request, timeout=30).status_code == 200
    again = requests.post(chat_url(chat_host), json=request, timeout=10)
    assert again.status_code == 400 and again.json()["error"]["code"] == "nothing_to_answer"


def test_resume_and_stop_of_an_idle_or_unknown_chat_answer_204(chat_host: Devhost) -> None:
    unknown = f"none-{uuid.uuid4().hex[:8]}"
    assert requests.get(f"{chat_url(chat_host, unknown)}/stream", timeout=10).status_code == 204
    assert requests.post(f"{chat_url(chat_host, unknown)}/stop", timeout=10).status_code == 204
    assert requests.get(chat_url(chat_host, unknown), timeout=10).status_code == 404
    chat = f"idle-{uuid.uuid4().hex[:8]}"
    assert requests.post(chat_url(chat_host), json=body(chat), timeout=30).status_code == 200
    assert requests.get(f"{chat_url(chat_host, chat)}/stream", timeout=10).status_code == 204
    assert requests.post(f"{chat_url(chat_host, chat)}/stop", timeout=10).status_code == 204


def test_a_run_longer_than_one_response_ends_it_without_done_and_resume_replays_it_to_the_finish(
    make_devhost,
) -> None:
    host: Devhost = make_devhost({"STREAM_MAX_SECONDS": "0.5", "DEMO_TOKENS_PER_SECOND": "60"})
    chat = f"long-{uuid.uuid4().hex[:8]}"
    first = requests.post(chat_url(host), json=body(chat, "x " * 60), timeout=30)
    assert first.status_code == 200 and "data: [DONE]" not in first.text
    replays: list[list[dict[str, Any]]] = []
    while (resumed := requests.get(f"{chat_url(host, chat)}/stream", timeout=30)).status_code == 200:
        frames = [f.removeprefix("data: ") for f in resumed.text.split("\n\n") if f.startswith("data: ")]
        replays.append([json.loads(f) for f in frames if f != "[DONE]"])
        assert len(replays) < 40, "the run should have finished"
    assert resumed.status_code == 204 and replays, "the run should outlast the first response"
    answer = host.status(chat)["messages"][-1]["content"]
    # Each replay starts the message over under the same id, with the answer so far and nothing twice.
    for replay in replays:
        assert replay[0] == {"type": "start", "messageId": replays[0][0]["messageId"]}
        assert answer.startswith("".join(c["delta"] for c in replay if c["type"] == "text-delta"))
    # A run that ends between two responses is not replayed (204): the chat's messages hold its end.
    loaded = requests.get(chat_url(host, chat), timeout=10).json()["messages"]
    assert loaded[-1]["parts"][-1]["text"] == answer
