"""The `ai` npm package (the Chat core useChat wraps, DefaultChatTransport, readUIMessageStream) against
the AI SDK chat routes, run by Node. The AI SDK validates every chunk against its schema and throws
on a part out of order, so a scenario that completes is a stream the real client accepts.
"""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path
from typing import Any

import requests

from tests.harness import ROOT, Devhost

SCRIPT = Path(__file__).with_name("ai_sdk_client.mjs")
LONG = " ".join(["word"] * 100)
CONFIRM = {
    "name": "confirm_booking",
    "description": "Ask the user to confirm a booking.",
    "parameters": {"type": "object", "properties": {"summary": {"type": "string"}}, "required": ["summary"]},
}


def run_ai_client(scenario: str, options: dict[str, Any]) -> dict[str, Any]:
    completed = subprocess.run(
        ["node", str(SCRIPT), scenario, json.dumps(options)], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert completed.returncode == 0, completed.stderr
    return dict(json.loads(completed.stdout))


def new_chat() -> str:
    return f"chat-{uuid.uuid4().hex[:10]}"


def conversation_of(ui_messages: list[dict[str, Any]]) -> list[tuple[str, Any]]:
    """What UIMessages say, step by step: user texts, assistant texts, tool calls with their results."""
    said: list[tuple[str, Any]] = []
    for message in ui_messages:
        for part in message["parts"]:
            if part["type"] == "text":
                said.append((message["role"], part["text"]))
            elif part["type"] == "reasoning":
                said.append(("reasoning", part["text"]))
            elif part["type"].startswith("tool-"):
                said.append(("call", (part["type"].removeprefix("tool-"), part["input"])))
                said.append(("result", part["output"]))
    return said


def stored_conversation(messages: list[dict[str, Any]]) -> list[tuple[str, Any]]:
    """The same view of the thread's stored (AG-UI) messages."""
    said: list[tuple[str, Any]] = []
    results = {m["toolCallId"]: m["content"] for m in messages if m["role"] == "tool"}
    for message in messages:
        if message["role"] == "tool":
            continue
        if message.get("content"):
            said.append((message["role"], message["content"]))
        for call in message.get("toolCalls") or ():
            said.append(("call", (call["function"]["name"], json.loads(call["function"]["arguments"]))))
            said.append(("result", results[call["id"]]))
    return said


def test_a_message_assembles_into_the_assistant_uimessage_the_thread_stores(chat_host: Devhost) -> None:
    chat = new_chat()
    output = run_ai_client("chat", {"url": chat_host.url, "chatId": chat, "texts": ["Hello there", "think again"]})
    assert output["status"] == "ready" and output["errors"] == []
    user, answer, second_user, second_answer = output["messages"]
    assert user["parts"] == [{"type": "text", "text": "Hello there"}]
    assert [p["type"] for p in answer["parts"]] == ["step-start", "text"]
    assert answer["parts"][1]["text"].startswith('You said: "Hello there".')
    assert [p["type"] for p in second_answer["parts"]] == ["step-start", "reasoning", "text"]
    stored = chat_host.status(chat)
    assert [run["run_id"] for run in stored["runs"]] == [answer["id"], second_answer["id"]]
    assert conversation_of(output["messages"]) == stored_conversation(stored["messages"])
    loaded = json.loads(_get(chat_host, f"/api/agents/assistant/chat/{chat}"))
    assert loaded["messages"] == output["messages"]


def test_a_tool_run_shows_the_tool_input_and_output_in_one_assistant_message(chat_host: Devhost) -> None:
    chat = new_chat()
    output = run_ai_client(
        "chat", {"url": chat_host.url, "chatId": chat, "texts": ["What is the weather in Paris, and the time?"]}
    )
    _, answer = output["messages"]
    kinds = [p["type"] for p in answer["parts"]]
    assert kinds == ["step-start", "text", "tool-get_weather", "tool-get_time", "step-start", "text"]
    weather = answer["parts"][2]
    assert weather["state"] == "output-available"
    assert weather["input"] == {"city": "Paris"} and "Paris" in weather["output"]
    assert answer["parts"][-1]["text"].startswith("Here is what I found: ")
    # Server tools reach onToolCall too (as in the AI SDK); the client ignores names it does not own.
    assert [call["toolName"] for call in output["calls"]] == ["get_weather", "get_time"]
    assert conversation_of(output["messages"]) == stored_conversation(chat_host.status(chat)["messages"])


def test_a_client_side_tool_is_answered_with_add_tool_output_and_the_message_continues(chat_host: Devhost) -> None:
    chat = new_chat()
    output = run_ai_client(
        "chat",
        {
            "url": chat_host.url,
            "chatId": chat,
            "texts": ["Please confirm_booking for Friday."],
            "tools": [CONFIRM],
            "answers": {"confirm_booking": "Confirmed by the user"},
        },
    )
    assert output["status"] == "ready" and output["errors"] == []
    _, answer = output["messages"]
    kinds = [p["type"] for p in answer["parts"]]
    assert kinds == ["step-start", "text", "tool-confirm_booking", "step-start", "text"]
    assert answer["parts"][2]["output"] == "Confirmed by the user"
    assert answer["parts"][-1]["text"] == "Here is what I found: Confirmed by the user."
    stored = chat_host.status(chat)
    # Two runs (the call, then the answer's follow-up) make one UIMessage, named after the first.
    assert [run["run_id"] for run in stored["runs"]][0] == answer["id"] and len(stored["runs"]) == 2
    assert conversation_of(output["messages"]) == stored_conversation(stored["messages"])
    loaded = json.loads(_get(chat_host, f"/api/agents/assistant/chat/{chat}"))
    assert loaded["messages"] == output["messages"]


def test_a_resume_during_the_follow_up_of_a_client_tool_replays_the_whole_message(chat_host: Devhost) -> None:
    chat = new_chat()
    output = run_ai_client(
        "resumeContinuation",
        {
            "url": chat_host.url,
            "chatId": chat,
            "text": "Please confirm_booking for Friday.",
            "tools": [CONFIRM],
            "output": "Confirmed by the user",
        },
    )
    final = output["messages"][-1]
    assert [p["type"] for p in final["parts"]] == ["step-start", "text", "tool-confirm_booking", "step-start", "text"]
    assert output["resumed"] == final
    # The earlier run's tool call is replayed without tool-input-available: onToolCall does not run it again.
    assert not any(c["type"] == "tool-input-available" for c in output["chunks"])


def test_a_failed_run_ends_the_stream_with_an_error_chunk(chat_host: Devhost) -> None:
    output = run_ai_client("chat", {"url": chat_host.url, "chatId": new_chat(), "texts": ["[fail:model] please"]})
    assert output["status"] == "error"
    assert output["errors"] == ["The demo model failed on purpose ([fail:model] in the message)."]


def test_a_cut_connection_resumes_with_reconnect_to_stream_to_the_same_message_without_repeats(
    chat_host: Devhost,
) -> None:
    chat = new_chat()
    output = run_ai_client("resume", {"url": chat_host.url, "chatId": chat, "text": LONG, "cutAfter": 5})
    partial, final = output["partial"], output["message"]
    partial_text = partial["parts"][-1]["text"]
    final_text = final["parts"][-1]["text"]
    assert partial_text and final_text.startswith(partial_text) and len(final_text) > len(partial_text)
    assert final["id"] == partial["id"]
    # The resumed stream replays the run from its start (the AI SDK's resume contract), once.
    after = output["after"]
    assert [c["type"] for c in after[:3]] == ["start", "start-step", "text-start"]
    assert after[0]["messageId"] == final["id"] and after[-1] == {"type": "finish", "finishReason": "stop"}
    assert "".join(c["delta"] for c in after if c["type"] == "text-delta") == final_text
    stored = chat_host.status(chat)["messages"]
    assert final_text == stored[-1]["content"] and final_text.count("word word") == LONG.count("word word")
    assert output["againIsNull"], "a resume after the run ended must answer 204"


def test_stop_cancels_the_run_and_the_stream_ends_with_abort(chat_host: Devhost) -> None:
    chat = new_chat()
    output = run_ai_client("stop", {"url": chat_host.url, "chatId": chat, "text": LONG})
    assert output["stopStatus"] == 202
    assert output["chunks"][-1] == {"type": "abort", "reason": "cancelled"}
    [run] = chat_host.status(chat)["runs"]
    assert run["status"] == "cancelled"
    # The cut-off step is not part of the conversation: the AI SDK takes it back with reset-step.
    assert {"type": "reset-step"} in output["chunks"]
    assert conversation_of([output["message"]]) == []


def _get(host: Devhost, path: str) -> str:
    response = requests.get(f"{host.url}{path}", timeout=10)
    assert response.status_code == 200, response.text
    return response.text
