"""The Responses API client over the real `openai` SDK, against the local server speaking its wire format."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import BaseModel

from agentstream.agent.llm import (
    AZURE_OPENAI_SCOPE,
    AzureOpenAIModel,
    EncryptedReasoning,
    ModelClient,
    ModelError,
    OpenAIModel,
    ReasoningDelta,
    TextDelta,
    ToolCallDelta,
    Usage,
    create_model,
)
from agentstream.agent.llm.base import UNANSWERED
from agentstream.agent.llm.openai_responses import to_responses_input
from agentstream.agent.output import output_schema
from agentstream.agent.turn import AssistantTurn
from agentstream.config import Settings
from agentstream.exceptions import ConfigError
from tests.core.test_openai_chat import FixedTokenCredential
from tests.openai_server import OpenAIServer, Reply

WEATHER = {
    "name": "get_weather",
    "description": "Weather.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
}
USER = [{"id": "u1", "role": "user", "content": "Weather in Paris and the time?"}]


@pytest.fixture(scope="module")
def server() -> Iterator[OpenAIServer]:
    started = OpenAIServer().start()
    yield started
    started.stop()


@pytest.fixture(autouse=True)
def fresh(server: OpenAIServer) -> None:
    server.reset()


def responses_model(server: OpenAIServer, **env: str) -> ModelClient:
    settings = Settings.from_env(
        {
            "MODEL_PROVIDER": "openai",
            "MODEL_API": "responses",
            "OPENAI_API_KEY": "test-key",
            "OPENAI_BASE_URL": server.base_url,
            **env,
        }
    )
    return create_model(settings)


async def collect(model: ModelClient, messages: list[dict[str, Any]] = USER, tools: list[dict[str, Any]] = (), **kw):
    return [chunk async for chunk in model.stream(messages, list(tools), **kw)]


def text_of(chunks: list[Any]) -> str:
    return "".join(c.text for c in chunks if isinstance(c, TextDelta))


def test_text_and_two_parallel_function_calls_with_their_exact_arguments(server: OpenAIServer) -> None:
    weather, time_args = '{"city": "Paris, \\"Île-de-France\\""}', '{"timezone": "Europe/Paris"}'
    server.script(
        Reply(text="Let me check.", tool_calls=[("get_weather", weather), ("get_time", time_args)], prompt_tokens=42)
    )
    chunks = asyncio.run(collect(responses_model(server), tools=[WEATHER]))
    assert text_of(chunks) == "Let me check."
    calls = [c for c in chunks if isinstance(c, ToolCallDelta)]
    assert len([c for c in calls if c.arguments]) > 4  # the arguments came in pieces
    turn = AssistantTurn("m")
    types = [e.type for chunk in chunks for e in turn.feed(chunk)] + [e.type for e in turn.finish()]
    assert types.count("TOOL_CALL_START") == 2 and types.count("TOOL_CALL_END") == 2
    assert [(c["function"]["name"], c["function"]["arguments"]) for c in turn.tool_calls] == [
        ("get_weather", weather),
        ("get_time", time_args),
    ]
    assert all(c["id"].startswith("call_") for c in turn.tool_calls)
    assert chunks[-1] == Usage(input_tokens=42, output_tokens=3 + len([c for c in calls if c.arguments]))
    [request] = server.responses_requests()
    assert (request["model"], request["stream"], request["store"]) == ("gpt-4o-mini", True, False)
    assert request["input"] == [{"role": "user", "content": "Weather in Paris and the time?"}]
    assert request["tools"] == [{"type": "function", **WEATHER, "strict": False}]
    # No reasoning asked for: models without reasoning refuse encrypted reasoning.
    assert "include" not in request and "reasoning" not in request


def test_a_reasoning_summary_streams_as_reasoning_and_the_encrypted_item_is_handed_over(server: OpenAIServer) -> None:
    server.script(
        Reply(
            summary_parts=["First I look at the city.", "Then the clock."],
            text="Mild and noon.",
            reasoning_tokens=64,
            cached_tokens=5,
            prompt_tokens=20,
            completion_tokens=80,
        )
    )
    chunks = asyncio.run(collect(responses_model(server, MODEL_REASONING_EFFORT="low")))
    reasoning = [c for c in chunks if isinstance(c, ReasoningDelta)]
    assert "".join(c.text for c in reasoning) == "First I look at the city.\n\nThen the clock."
    assert {c.index for c in reasoning} == {0}
    assert text_of(chunks) == "Mild and noon."
    [sealed] = [c for c in chunks if isinstance(c, EncryptedReasoning)]
    assert sealed.index == 0 and server.issued_reasoning == {sealed.value: sealed.item_id}
    assert chunks[-1] == Usage(input_tokens=20, output_tokens=80, reasoning_tokens=64, cached_input_tokens=5)
    [request] = server.responses_requests()
    assert request["reasoning"] == {"effort": "low", "summary": "auto"}
    assert request["include"] == ["reasoning.encrypted_content"]


def test_encrypted_reasoning_goes_back_on_the_next_call_and_never_as_text(server: OpenAIServer) -> None:
    server.script(Reply(summary_parts=["Checking the weather tool."], tool_calls=[("get_weather", '{"city": "Oslo"}')]))
    turn = AssistantTurn("run.m0.1")
    first = asyncio.run(collect(responses_model(server, MODEL_REASONING_EFFORT="high"), tools=[WEATHER]))
    events = [e for chunk in first for e in turn.feed(chunk)] + turn.finish()
    [sealed] = server.issued_reasoning
    visible = [e for e in events if e.type != "REASONING_ENCRYPTED_VALUE"]
    assert all(sealed not in e.data for e in visible)
    [encrypted_event] = [json.loads(e.data) for e in events if e.type == "REASONING_ENCRYPTED_VALUE"]
    assert encrypted_event.pop("timestamp") > 0
    assert encrypted_event == {
        "type": "REASONING_ENCRYPTED_VALUE",
        "subtype": "message",
        "entityId": "run.m0.1.reasoning",
        "encryptedValue": sealed,
    }
    reasoning, assistant = turn.messages()
    assert reasoning["content"] == "Checking the weather tool." and reasoning["encryptedValue"] == sealed
    [call] = assistant["toolCalls"]
    result = {"id": "t", "role": "tool", "toolCallId": call["id"], "content": "Oslo: 4 °C"}

    server.script(Reply(text="It is 4 °C in Oslo."))
    model = responses_model(server, MODEL_REASONING_EFFORT="high")
    chunks = asyncio.run(collect(model, [*USER, reasoning, assistant, result], tools=[WEATHER]))
    assert text_of(chunks) == "It is 4 °C in Oslo."
    _, second = server.responses_requests()
    assert second["input"][1:] == [
        {
            "type": "reasoning",
            "id": server.issued_reasoning[sealed],
            "summary": [{"type": "summary_text", "text": "Checking the weather tool."}],
            "encrypted_content": sealed,
        },
        {"type": "function_call", "call_id": call["id"], "name": "get_weather", "arguments": '{"city": "Oslo"}'},
        {"type": "function_call_output", "call_id": call["id"], "output": "Oslo: 4 °C"},
    ]


def test_the_conversation_becomes_input_items() -> None:
    lost = {"id": "c2", "type": "function", "function": {"name": "confirm", "arguments": '{"a": 1}'}}
    messages = [
        {"id": "s", "role": "system", "content": "Be brief."},
        {"id": "u1", "role": "user", "content": "Time?"},
        {"id": "r1", "role": "reasoning", "content": "From Chat Completions: no encrypted value."},
        {"id": "r2", "role": "reasoning", "content": "", "encryptedValue": "enc", "metadata": {}},
        {"id": "a2", "role": "assistant", "content": "Noon. Confirm?", "toolCalls": [lost]},
        {"id": "u2", "role": "user", "content": "Never mind."},
    ]
    assert to_responses_input(messages) == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Time?"},
        {"role": "assistant", "content": "Noon. Confirm?"},
        {"type": "function_call", "call_id": "c2", "name": "confirm", "arguments": '{"a": 1}'},
        {"type": "function_call_output", "call_id": "c2", "output": UNANSWERED},
        {"role": "user", "content": "Never mind."},
    ]


def test_two_reasoning_items_in_one_turn_become_two_reasoning_messages() -> None:
    turn = AssistantTurn("m")
    chunks = [
        ReasoningDelta("one", 0),
        EncryptedReasoning(0, "rs_a", "enc_a"),
        ReasoningDelta("two", 2),
        EncryptedReasoning(2, "rs_b", "enc_b"),
        TextDelta("Done."),
    ]
    events = [e for chunk in chunks for e in turn.feed(chunk)] + turn.finish()
    starts = [json.loads(e.data)["messageId"] for e in events if e.type == "REASONING_MESSAGE_START"]
    assert starts == ["m.reasoning", "m.reasoning1"]
    assert [e.type for e in events].index("REASONING_END") < [e.type for e in events].index("REASONING_START", 3)
    assert turn.messages() == [
        {
            "id": "m.reasoning",
            "role": "reasoning",
            "content": "one",
            "encryptedValue": "enc_a",
            "metadata": {"providerItemId": "rs_a"},
        },
        {
            "id": "m.reasoning1",
            "role": "reasoning",
            "content": "two",
            "encryptedValue": "enc_b",
            "metadata": {"providerItemId": "rs_b"},
        },
        {"id": "m", "role": "assistant", "content": "Done."},
    ]


@pytest.mark.parametrize(
    "failure",
    [
        Reply(status=429, retry_after="1"),
        Reply(status=503),
        Reply(failed_code="server_error"),
        Reply(error_event="rate_limit_exceeded"),
        Reply(text="never arrives", hang_after=1),
    ],
    ids=["429 retry-after", "503", "response.failed server_error", "error event rate limit", "hang"],
)
def test_a_failure_before_anything_streamed_is_retried(server: OpenAIServer, failure: Reply) -> None:
    server.script(failure, Reply(text="Fine now."))
    begin = time.monotonic()
    chunks = asyncio.run(collect(responses_model(server, MODEL_TIMEOUT_SECONDS="0.5")))
    assert text_of(chunks) == "Fine now."
    assert len(server.responses_requests()) == 2
    if failure.retry_after:
        assert time.monotonic() - begin >= 1.0


def test_a_stream_cut_after_deltas_is_raised_not_retried(server: OpenAIServer) -> None:
    # created, in_progress, item added, content part added, then two deltas.
    server.script(Reply(text="one two three four five", cut_after=6), Reply(text="unused"))
    seen: list[Any] = []

    async def main() -> None:
        async for chunk in responses_model(server).stream(USER, []):
            seen.append(chunk)

    with pytest.raises(ModelError) as raised:
        asyncio.run(main())
    assert raised.value.code == "model_unavailable" and not raised.value.final
    assert [c.text for c in seen] == ["one ", "two "]
    assert len(server.responses_requests()) == 1
    server.reset()


@pytest.mark.parametrize(
    ("reply", "code"),
    [
        (Reply(refusal="I can't help with that."), "refusal"),
        (Reply(text="Something I", incomplete_reason="content_filter"), "content_filter"),
        (Reply(status=400, error_code="content_filter"), "content_filter"),
        (Reply(failed_code="bio_policy"), "content_filter"),
        (Reply(failed_code="invalid_prompt"), "model_error"),
        (Reply(error_event="invalid_request_error"), "model_error"),
    ],
    ids=[
        "refusal",
        "incomplete content_filter",
        "400 content filter",
        "failed bio_policy",
        "failed invalid_prompt",
        "error event",
    ],
)
def test_final_errors_are_not_retried(server: OpenAIServer, reply: Reply, code: str) -> None:
    server.script(reply)
    with pytest.raises(ModelError) as raised:
        asyncio.run(collect(responses_model(server)))
    assert raised.value.code == code and raised.value.final
    assert len(server.responses_requests()) == 1


def test_an_answer_cut_short_by_max_output_tokens_is_kept(server: OpenAIServer) -> None:
    server.script(Reply(text="A long", incomplete_reason="max_output_tokens"))
    chunks = asyncio.run(
        collect(
            OpenAIModel("gpt-test", api="responses", base_url=server.base_url, api_key="test-key", max_output_tokens=2)
        )
    )
    assert text_of(chunks) == "A long" and isinstance(chunks[-1], Usage)
    assert server.responses_requests()[0]["max_output_tokens"] == 2


class Forecast(BaseModel):
    city: str
    high_c: float
    note: str | None = None


def test_structured_output_is_asked_for_as_a_strict_json_schema(server: OpenAIServer) -> None:
    answer = '{"city": "Oslo", "high_c": 4.5, "note": null}'
    server.script(Reply(text=answer))
    chunks = asyncio.run(collect(responses_model(server), output=output_schema(Forecast)))
    assert text_of(chunks) == answer
    [request] = server.responses_requests()
    assert request["text"] == {
        "format": {
            "type": "json_schema",
            "name": "Forecast",
            "strict": True,
            "schema": {
                "title": "Forecast",
                "type": "object",
                "properties": {
                    "city": {"title": "City", "type": "string"},
                    "high_c": {"title": "High C", "type": "number"},
                    "note": {"anyOf": [{"type": "string"}, {"type": "null"}], "title": "Note"},
                },
                "required": ["city", "high_c", "note"],
                "additionalProperties": False,
            },
        }
    }


def test_azure_openai_v1_with_an_api_key_sends_only_the_api_key_header(server: OpenAIServer) -> None:
    settings = Settings.from_env(
        {
            "MODEL_PROVIDER": "azure_openai",
            "MODEL_API": "responses",
            "AZURE_OPENAI_ENDPOINT": server.endpoint + "/",
            "AZURE_OPENAI_DEPLOYMENT": "chat",
            "AZURE_OPENAI_API_KEY": "test-key",
        }
    )
    server.script(Reply(text="Hello from Azure."))
    assert text_of(asyncio.run(collect(create_model(settings)))) == "Hello from Azure."
    [request] = server.requests
    assert (request.path, request.query, request.body["model"]) == ("/openai/v1/responses", {}, "chat")
    assert request.headers["api-key"] == "test-key" and "authorization" not in request.headers


def test_azure_openai_v1_with_an_entra_token() -> None:
    server = OpenAIServer(azure_deployment="gpt5-prod", azure_token="fixed-entra-token").start()
    try:
        credential = FixedTokenCredential()
        model = AzureOpenAIModel("gpt5-prod", api="responses", endpoint=server.endpoint, credential=credential)  # type: ignore[arg-type]
        server.script(Reply(tool_calls=[("get_weather", '{"city": "Oslo"}')]))
        chunks = asyncio.run(collect(model, tools=[WEATHER]))
        assert "".join(c.arguments for c in chunks if isinstance(c, ToolCallDelta)) == '{"city": "Oslo"}'
        assert credential.scopes == [(AZURE_OPENAI_SCOPE,)]
        [request] = server.requests
        assert request.path == "/openai/v1/responses"
        assert request.headers["authorization"] == "Bearer fixed-entra-token" and "api-key" not in request.headers
    finally:
        server.stop()


def test_model_api_must_be_chat_or_responses() -> None:
    with pytest.raises(
        ConfigError, match="Config 'MODEL_API' has value 'assistants'. Expected one of chat, responses."
    ):
        Settings.from_env({"MODEL_API": "assistants"})
    with pytest.raises(ConfigError, match="'MODEL_REASONING_EFFORT' has value 'max'"):
        Settings.from_env({"MODEL_REASONING_EFFORT": "max"})
    with pytest.raises(ValueError, match="api='completions' is not a model API"):
        OpenAIModel("gpt-test", api="completions")


def test_an_agent_model_chooses_its_api_over_the_setting(server: OpenAIServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODEL_API", "responses")
    from agentstream.config import get_settings

    get_settings.cache_clear()
    try:
        server.script(Reply(text="Via responses."), Reply(text="Via chat."))
        by_setting = OpenAIModel("gpt-test", api_key="test-key", base_url=server.base_url)
        chat = OpenAIModel("gpt-test", api="chat", api_key="test-key", base_url=server.base_url)
        assert text_of(asyncio.run(collect(by_setting))) == "Via responses."
        assert text_of(asyncio.run(collect(chat))) == "Via chat."
        assert [r.path for r in server.requests] == ["/v1/responses", "/v1/chat/completions"]
    finally:
        get_settings.cache_clear()


def test_reasoning_with_no_summary_is_still_carried_to_the_next_call(server: OpenAIServer) -> None:
    server.script(Reply(encrypted=True, text="Hi."), Reply(text="Hi again."))
    turn = AssistantTurn("m")
    first = asyncio.run(collect(responses_model(server, MODEL_REASONING_EFFORT="minimal")))
    events = [e.type for chunk in first for e in turn.feed(chunk)] + [e.type for e in turn.finish()]
    assert not [c for c in first if isinstance(c, ReasoningDelta)]
    assert "REASONING_START" not in events and "REASONING_ENCRYPTED_VALUE" in events
    reasoning, answer = turn.messages()
    [sealed] = server.issued_reasoning
    assert (reasoning["content"], reasoning["encryptedValue"]) == ("", sealed)
    follow_up = {"id": "u2", "role": "user", "content": "Again?"}
    model = responses_model(server, MODEL_REASONING_EFFORT="minimal")
    assert text_of(asyncio.run(collect(model, [*USER, reasoning, answer, follow_up]))) == "Hi again."
    reasoning_item = server.responses_requests()[1]["input"][1]
    assert reasoning_item["summary"] == [] and reasoning_item["encrypted_content"] == sealed
