"""The OpenAI client over the real `openai` SDK, against the local OpenAI-compatible server."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from azure.core.credentials import AccessToken

from agentstream.agent.llm import (
    AZURE_OPENAI_SCOPE,
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
from agentstream.agent.llm.openai_chat import to_openai_messages
from agentstream.agent.turn import AssistantTurn
from agentstream.config import Settings
from tests.openai_server import OpenAIServer, Reply

WEATHER = {"name": "get_weather", "description": "Weather.", "parameters": {"type": "object", "properties": {}}}
USER = [{"id": "u1", "role": "user", "content": "Weather in Paris and the time?"}]


@pytest.fixture(scope="module")
def server() -> Iterator[OpenAIServer]:
    started = OpenAIServer().start()
    yield started
    started.stop()


@pytest.fixture(autouse=True)
def fresh(server: OpenAIServer) -> None:
    server.reset()


def openai_model(server: OpenAIServer, **env: str) -> ModelClient:
    settings = Settings.from_env(
        {"MODEL_PROVIDER": "openai", "OPENAI_API_KEY": "test-key", "OPENAI_BASE_URL": server.base_url, **env}
    )
    model = create_model(settings)
    assert isinstance(model, OpenAIModel)
    return model


async def collect(model: ModelClient, messages: list[dict[str, Any]] = USER, tools: list[dict[str, Any]] = ()):
    return [chunk async for chunk in model.stream(messages, list(tools))]


def test_two_tool_calls_split_mid_argument_are_assembled_exactly(server: OpenAIServer) -> None:
    weather, time_args = '{"city": "Paris, \\"Île-de-France\\""}', '{"timezone": "Europe/Paris"}'
    server.script(Reply(tool_calls=[("get_weather", weather), ("get_time", time_args)], prompt_tokens=42))
    chunks = asyncio.run(collect(openai_model(server), tools=[WEATHER]))
    calls = [c for c in chunks if isinstance(c, ToolCallDelta)]
    assert len([c for c in calls if c.arguments]) > 4  # the arguments came in pieces
    turn = AssistantTurn("m")
    types = [e.type for chunk in chunks for e in turn.feed(chunk)] + [e.type for e in turn.finish()]
    assert types.count("TOOL_CALL_START") == 2 and types.count("TOOL_CALL_END") == 2
    assert [(c["function"]["name"], c["function"]["arguments"]) for c in turn.tool_calls] == [
        ("get_weather", weather),
        ("get_time", time_args),
    ]
    assert chunks[-1] == Usage(input_tokens=42, output_tokens=len([c for c in calls if c.arguments]))
    [request] = server.chat_requests()
    assert request["stream"] is True and request["stream_options"] == {"include_usage": True}
    assert request["tools"] == [{"type": "function", "function": WEATHER}]
    assert request["messages"] == [{"role": "user", "content": "Weather in Paris and the time?"}]


def test_reasoning_deltas_come_before_the_text(server: OpenAIServer) -> None:
    server.script(
        Reply(
            reasoning="First I consider it.",
            text="The answer.",
            completion_tokens=30,
            reasoning_tokens=24,
            cached_tokens=3,
        )
    )
    chunks = asyncio.run(collect(openai_model(server)))
    assert [type(c).__name__ for c in chunks[:4]] == ["ReasoningDelta"] * 4
    assert "".join(c.text for c in chunks if isinstance(c, ReasoningDelta)) == "First I consider it."
    assert "".join(c.text for c in chunks if isinstance(c, TextDelta)) == "The answer."
    assert chunks[-1] == Usage(input_tokens=11, output_tokens=30, reasoning_tokens=24, cached_input_tokens=3)


@pytest.mark.parametrize(
    "failure",
    [
        Reply(status=429, retry_after_ms=300),
        Reply(status=429, retry_after="1"),
        Reply(status=500),
        Reply(status=503),
        Reply(text="never arrives", hang_after=1),
        Reply(error_event="server_error"),
    ],
    ids=["429 retry-after-ms", "429 retry-after", "500", "503", "hang", "error in the stream"],
)
def test_a_failure_before_anything_streamed_is_retried_with_backoff(server: OpenAIServer, failure: Reply) -> None:
    server.script(failure, Reply(text="Fine now."))
    begin = time.monotonic()
    chunks = asyncio.run(collect(openai_model(server, MODEL_TIMEOUT_SECONDS="0.5")))
    waited = time.monotonic() - begin
    assert "".join(c.text for c in chunks if isinstance(c, TextDelta)) == "Fine now."
    assert len(server.chat_requests()) == 2
    if failure.retry_after_ms:
        assert waited >= 0.3
    if failure.retry_after:
        assert waited >= 1.0


@pytest.mark.parametrize(
    ("failure", "code"),
    [
        (Reply(status=429, retry_after_ms=10), "rate_limited"),
        (Reply(status=500), "model_unavailable"),
        (Reply(text="stuck", hang_after=1), "model_timeout"),
    ],
    ids=["429", "500", "hang"],
)
def test_retries_give_up_after_the_attempts_with_the_failure_code(
    server: OpenAIServer, failure: Reply, code: str, caplog: pytest.LogCaptureFixture
) -> None:
    server.script(*[failure] * 3)
    with pytest.raises(ModelError) as raised:
        asyncio.run(collect(openai_model(server, MODEL_TIMEOUT_SECONDS="0.3")))
    assert raised.value.code == code and not raised.value.final
    assert len(server.chat_requests()) == 3
    retries = [r.getMessage() for r in caplog.records if r.name == "agentstream.agent.llm.openai_chat"]
    assert len(retries) == 2 and all(f"({code}, attempt" in m for m in retries)


@pytest.mark.parametrize(
    ("reply", "code"),
    [
        (Reply(status=400, error_code="content_filter"), "content_filter"),
        (Reply(text="Something I should not", finish_reason="content_filter"), "content_filter"),
        (Reply(status=400, error_code="invalid_value"), "model_error"),
        (Reply(status=404, error_code="model_not_found"), "model_error"),
        (Reply(refusal="I can't help with that."), "refusal"),
        (Reply(error_event="invalid_request_error"), "model_error"),
    ],
    ids=["400 content filter", "finish_reason content_filter", "400", "404", "refusal", "error in the stream"],
)
def test_final_errors_are_not_retried(server: OpenAIServer, reply: Reply, code: str) -> None:
    server.script(reply)
    with pytest.raises(ModelError) as raised:
        asyncio.run(collect(openai_model(server)))
    assert raised.value.code == code and raised.value.final
    assert len(server.chat_requests()) == 1


def test_a_wrong_key_is_a_final_error(server: OpenAIServer) -> None:
    with pytest.raises(ModelError) as raised:
        asyncio.run(collect(openai_model(server, OPENAI_API_KEY="wrong")))
    assert raised.value.final and "401" in str(raised.value)


def test_a_stream_cut_after_deltas_is_raised_not_retried(server: OpenAIServer) -> None:
    server.script(Reply(text="one two three four five", cut_after=3), Reply(text="unused"))
    seen: list[Any] = []

    async def main() -> None:
        async for chunk in openai_model(server).stream(USER, []):
            seen.append(chunk)

    with pytest.raises(ModelError) as raised:
        asyncio.run(main())
    assert raised.value.code == "model_unavailable" and not raised.value.final
    assert [c.text for c in seen] == ["one ", "two "]
    assert len(server.chat_requests()) == 1


def test_the_conversation_is_sent_with_tool_calls_results_and_placeholders() -> None:
    call = {"id": "c1", "type": "function", "function": {"name": "get_time", "arguments": "{}"}}
    lost = {"id": "c2", "type": "function", "function": {"name": "confirm", "arguments": '{"a": 1}'}}
    messages = [
        {"id": "s", "role": "developer", "content": "Be brief."},
        {"id": "u1", "role": "user", "content": "Time?"},
        {"id": "r", "role": "reasoning", "content": "thinking"},
        {"id": "a1", "role": "assistant", "toolCalls": [call]},
        {"id": "t1", "role": "tool", "toolCallId": "c1", "content": "12:00"},
        {"id": "a2", "role": "assistant", "content": "Noon. Confirm?", "toolCalls": [lost]},
        {"id": "u2", "role": "user", "content": "Never mind."},
    ]
    assert to_openai_messages(messages) == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Time?"},
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "c1", "content": "12:00"},
        {"role": "assistant", "content": "Noon. Confirm?", "tool_calls": [lost]},
        {"role": "tool", "tool_call_id": "c2", "content": UNANSWERED},
        {"role": "user", "content": "Never mind."},
    ]


class FixedTokenCredential:
    """An Azure credential that hands out one fixed token: Azure itself is the only thing mocked."""

    def __init__(self) -> None:
        self.scopes: list[tuple[str, ...]] = []

    async def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        self.scopes.append(scopes)
        return AccessToken("fixed-entra-token", int(time.time()) + 3600)

    async def close(self) -> None:
        pass

    async def __aenter__(self) -> FixedTokenCredential:
        return self

    async def __aexit__(self, *args: object) -> None:
        pass


def test_azure_openai_with_an_entra_token_provider_uses_the_deployment_route() -> None:
    server = OpenAIServer(azure_deployment="gpt4o-prod", azure_token="fixed-entra-token").start()
    try:
        credential = FixedTokenCredential()
        settings = Settings.from_env(
            {
                "MODEL_PROVIDER": "azure_openai",
                "AZURE_OPENAI_ENDPOINT": server.endpoint,
                "AZURE_OPENAI_DEPLOYMENT": "gpt4o-prod",
            }
        )
        model = create_model(settings, azure_credential=credential)  # type: ignore[arg-type]
        server.script(Reply(reasoning="Hmm.", tool_calls=[("get_weather", '{"city": "Oslo"}')]))
        chunks = asyncio.run(collect(model, tools=[WEATHER]))  # type: ignore[arg-type]
        assert credential.scopes == [(AZURE_OPENAI_SCOPE,)]
        [request] = server.requests
        assert request.path == "/openai/deployments/gpt4o-prod/chat/completions"
        assert request.query == {"api-version": ["2024-10-21"]}
        assert request.headers["authorization"] == "Bearer fixed-entra-token"
        assert "".join(c.arguments for c in chunks if isinstance(c, ToolCallDelta)) == '{"city": "Oslo"}'
        assert isinstance(chunks[-1], Usage)
    finally:
        server.stop()


def test_azure_openai_with_an_api_key(server: OpenAIServer) -> None:
    settings = Settings.from_env(
        {
            "MODEL_PROVIDER": "azure_openai",
            "AZURE_OPENAI_ENDPOINT": server.endpoint,
            "AZURE_OPENAI_DEPLOYMENT": "chat",
            "AZURE_OPENAI_API_KEY": "test-key",
            "AZURE_OPENAI_API_VERSION": "2025-01-01-preview",
        }
    )
    server.script(Reply(text="Hello from Azure."))
    chunks = asyncio.run(collect(create_model(settings)))  # type: ignore[arg-type]
    assert "".join(c.text for c in chunks if isinstance(c, TextDelta)) == "Hello from Azure."
    [request] = server.requests
    assert request.headers["api-key"] == "test-key" and request.query == {"api-version": ["2025-01-01-preview"]}
    assert json.dumps(request.body["messages"]) == json.dumps([{"role": "user", "content": USER[0]["content"]}])


def test_an_agent_model_sends_its_options_and_takes_the_rest_from_the_settings(server: OpenAIServer) -> None:
    model = OpenAIModel(
        "gpt-test",
        api_key="test-key",
        base_url=server.base_url,
        temperature=0.2,
        max_output_tokens=300,
        reasoning_effort="low",
    )
    server.script(Reply(text="Tuned."))
    chunks = asyncio.run(collect(model))
    assert "".join(c.text for c in chunks if isinstance(c, TextDelta)) == "Tuned."
    [request] = server.requests
    body = request.body
    assert (body["model"], body["temperature"], body["max_completion_tokens"], body["reasoning_effort"]) == (
        "gpt-test",
        0.2,
        300,
        "low",
    )
    default = openai_model(server)
    server.script(Reply(text="Plain."))
    asyncio.run(collect(default))
    assert not {"temperature", "max_completion_tokens", "reasoning_effort"} & set(server.requests[-1].body)
