"""The Responses API and structured output end to end: devhost → the `openai` SDK → the local server
speaking each API's wire format, and the stream and thread status read back from devhost."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from agentstream_client import AgentStreamClient, AsyncAgentStreamClient, NoOutputError
from tests.checks import assert_contiguous, assert_well_ordered_run, assistant_texts, discarded_ids, text_by_message
from tests.e2e.models_app import Forecast
from tests.harness import Devhost, StreamEvent
from tests.openai_server import OpenAIServer, Reply

WEATHER_ARGS = '{"city": "Paris"}'
TIME_ARGS = '{"timezone": "Europe/Paris"}'
FORECAST = {"city": "Oslo", "high_c": 4.5, "conditions": ["cloudy", "windy"], "warning": None}


@pytest.fixture(scope="module")
def server() -> Iterator[OpenAIServer]:
    started = OpenAIServer(azure_deployment="gpt5-prod", azure_token="fixed-entra-token").start()
    yield started
    started.stop()


def env(server: OpenAIServer, api: str) -> dict[str, str]:
    return {
        "MODEL_PROVIDER": "openai",
        "MODEL_API": api,
        "OPENAI_API_KEY": "test-key",
        "OPENAI_BASE_URL": server.base_url,
        "OPENAI_MODEL": "gpt-test",
        "MODEL_TIMEOUT_SECONDS": "2",
        "STEP_MAX_ATTEMPTS": "2",
        "AZURE_OPENAI_ENDPOINT": server.endpoint,
        "TEST_ENTRA_TOKEN": "fixed-entra-token",
    }


@pytest.fixture(scope="module")
def responses_host(server: OpenAIServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Devhost]:
    data = tmp_path_factory.mktemp("responses") / "data"
    settings = {**env(server, "responses"), "MODEL_REASONING_EFFORT": "low"}
    started = Devhost(data, settings, app="tests.e2e.models_app").start()
    yield started
    started.stop()


@pytest.fixture(scope="module")
def chat_host(server: OpenAIServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Devhost]:
    started = Devhost(tmp_path_factory.mktemp("chat") / "data", env(server, "chat"), app="tests.e2e.models_app").start()
    yield started
    started.stop()


@pytest.fixture(autouse=True)
def fresh(server: OpenAIServer) -> Iterator[None]:
    server.reset()
    yield
    assert server.pending_replies == 0, "a scripted reply was never asked for"


def start(host: Devhost, agent: str, message: str, **extra: Any) -> dict[str, Any]:
    response = requests.post(f"{host.url}/api/agents/{agent}/run", json={"message": message, **extra}, timeout=10)
    assert response.status_code == 202, response.text
    return dict(response.json())


def visible_text(events: list[StreamEvent], status: dict[str, Any]) -> str:
    """Every piece of text a client can show: deltas, arguments, results and message contents."""
    pieces = [str(e.body.get("delta", "")) for e in events] + [str(e.body.get("content", "")) for e in events]
    pieces += [str(m.get("content", "")) for m in status["messages"]]
    return "\n".join(pieces)


def test_text_and_two_parallel_function_calls(responses_host: Devhost, server: OpenAIServer) -> None:
    server.script(
        Reply(tool_calls=[("get_weather", WEATHER_ARGS), ("get_time", TIME_ARGS)], prompt_tokens=30),
        Reply(text="Paris is mild, and it is noon.", prompt_tokens=50),
    )
    started = responses_host.start_run("Weather in Paris, and the time there?")
    events = responses_host.stream(started["stream_url"])
    assert_contiguous(events, events[0].id)
    assert_well_ordered_run(events)
    calls = [e.body for e in events if e.type == "TOOL_CALL_START"]
    arguments = [
        "".join(
            e.body["delta"] for e in events if e.type == "TOOL_CALL_ARGS" and e.body["toolCallId"] == c["toolCallId"]
        )
        for c in calls
    ]
    assert [c["toolCallName"] for c in calls] == ["get_weather", "get_time"] and arguments == [WEATHER_ARGS, TIME_ARGS]
    results = {e.body["toolCallId"]: e.body["content"] for e in events if e.type == "TOOL_CALL_RESULT"}
    first, second = server.responses_requests()
    assert first["input"][0]["role"] == "system" and first["input"][1:] == [
        {"role": "user", "content": "Weather in Paris, and the time there?"}
    ]
    assert second["input"][2:4] == [
        {"type": "function_call", "call_id": c["toolCallId"], "name": c["toolCallName"], "arguments": a}
        for c, a in zip(calls, arguments, strict=True)
    ]
    outputs = {i["call_id"]: i["output"] for i in second["input"][4:]}
    assert outputs == results and len(second["input"]) == 6
    status = responses_host.status(started["thread_id"])
    assert list(text_by_message(events).values()) == ["Paris is mild, and it is noon."]
    assert text_by_message(events) == assistant_texts(status["messages"])
    usage = events[-1].body["usage"]
    assert usage[0]["inputTokens"] == 80


def test_reasoning_streams_as_reasoning_and_its_encrypted_item_goes_back_every_turn(
    responses_host: Devhost, server: OpenAIServer
) -> None:
    server.script(
        Reply(
            summary_parts=["The user wants the weather.", "I will call the tool."],
            tool_calls=[("get_weather", WEATHER_ARGS)],
            reasoning_tokens=40,
            cached_tokens=8,
            prompt_tokens=30,
            completion_tokens=60,
        ),
        Reply(text="It is mild.", prompt_tokens=40, completion_tokens=5),
        Reply(text="You asked about Paris.", prompt_tokens=50, completion_tokens=6),
    )
    first = responses_host.start_run("Weather in Paris?")
    events = responses_host.stream(first["stream_url"])
    assert_well_ordered_run(events)
    reasoning = "".join(e.body["delta"] for e in events if e.type == "REASONING_MESSAGE_CONTENT")
    assert reasoning == "The user wants the weather.\n\nI will call the tool."
    assert "The user wants" not in "".join(text_by_message(events).values())
    [sealed] = server.issued_reasoning
    [carrier] = [e.body for e in events if e.type == "REASONING_ENCRYPTED_VALUE"]
    assert carrier["encryptedValue"] == sealed
    assert events[-1].body["usage"] == [
        {"inputTokens": 70, "outputTokens": 65, "totalTokens": 135, "reasoningTokens": 40, "cachedInputTokens": 8}
    ]

    second = responses_host.start_run("Which city was it?", thread_id=first["thread_id"])
    events += responses_host.stream(second["stream_url"])
    item = {
        "type": "reasoning",
        "id": server.issued_reasoning[sealed],
        "summary": [{"type": "summary_text", "text": reasoning}],
        "encrypted_content": sealed,
    }
    # Sent back after the tool call it led to, and again in the next run.
    after_tool, next_run = server.responses_requests()[1:]
    assert after_tool["input"][2] == item and after_tool["input"][3]["type"] == "function_call"
    assert next_run["input"][2] == item
    status = responses_host.status(first["thread_id"])
    assert sealed not in visible_text([e for e in events if e.type != "REASONING_ENCRYPTED_VALUE"], status)
    assert [m["role"] for m in status["messages"]][:3] == ["user", "reasoning", "assistant"]


def test_a_stream_cut_mid_answer_is_discarded_and_redone(responses_host: Devhost, server: OpenAIServer) -> None:
    # created, in_progress, item added, content part added, two deltas: then the connection drops.
    server.script(Reply(text="alpha beta gamma delta", cut_after=6), Reply(text="alpha beta gamma delta epsilon"))
    started = responses_host.start_run("Cut me off.")
    events = responses_host.stream(started["stream_url"], timeout=60)
    assert_contiguous(events, events[0].id)
    assert events[-1].type == "RUN_FINISHED"
    [discarded] = discarded_ids(events)
    attempts = [e.body["messageId"] for e in events if e.type == "TEXT_MESSAGE_START" and e.body["role"] == "assistant"]
    partial = "".join(
        e.body["delta"] for e in events if e.type == "TEXT_MESSAGE_CONTENT" and e.body["messageId"] == discarded
    )
    assert attempts == [discarded, attempts[1]] and partial == "alpha beta "
    messages = responses_host.status(started["thread_id"])["messages"]
    assert text_by_message(events) == assistant_texts(messages) == {attempts[1]: "alpha beta gamma delta epsilon"}


def test_a_429_with_retry_after_is_retried_invisibly(responses_host: Devhost, server: OpenAIServer) -> None:
    server.script(Reply(status=429, retry_after="1"), Reply(text="Got there."))
    started = responses_host.start_run("Try hard.")
    events = responses_host.stream(started["stream_url"], timeout=60)
    assert_well_ordered_run(events)
    assert events[-1].type == "RUN_FINISHED" and not discarded_ids(events)
    assert list(text_by_message(events).values()) == ["Got there."]
    assert len(server.responses_requests()) == 2


def test_an_agent_on_azure_openai_v1_with_a_bearer_token(responses_host: Devhost, server: OpenAIServer) -> None:
    server.script(Reply(summary_parts=["Planning."], text="Go in May."))
    started = start(responses_host, "planner", "When should I visit Oslo?")
    events = responses_host.stream(started["stream_url"])
    assert events[-1].type == "RUN_FINISHED"
    assert list(text_by_message(events).values()) == ["Go in May."]
    [request] = server.requests
    assert (request.path, request.query) == ("/openai/v1/responses", {})
    assert request.headers["authorization"] == "Bearer fixed-entra-token" and "api-key" not in request.headers
    assert request.body["model"] == "gpt5-prod" and request.body["reasoning"] == {"effort": "medium", "summary": "auto"}


@pytest.fixture(params=["chat", "responses"])
def host(request: pytest.FixtureRequest) -> Devhost:
    return request.getfixturevalue(f"{request.param}_host")  # type: ignore[no-any-return]


def model_inputs(server: OpenAIServer) -> list[list[dict[str, Any]]]:
    return [r.body.get("messages") or r.body["input"] for r in server.requests]


def test_a_valid_structured_answer_reaches_result_typed(host: Devhost, server: OpenAIServer) -> None:
    server.script(Reply(tool_calls=[("get_weather", '{"city": "Oslo"}')]), Reply(text=json.dumps(FORECAST)))
    run = AgentStreamClient(host.url).run("Forecast for Oslo?", agent="forecaster")
    forecast = run.result(Forecast)
    assert forecast == Forecast(**FORECAST)
    assert run.terminal is not None and run.terminal.body["result"] == FORECAST
    status = host.status(run.thread_id)
    assert status["runs"][0]["result"] == FORECAST and status["messages"][-1]["content"] == json.dumps(FORECAST)
    agents = {a["name"]: a for a in AgentStreamClient(host.url).agents()}
    assert agents["forecaster"]["output_schema"]["required"] == ["city", "high_c", "conditions", "warning"]
    assert "output_schema" not in agents["assistant"]
    assert server.requests, "the model was never called"
    for request in server.requests:
        body = request.body
        schema = body["response_format"]["json_schema"] if "response_format" in body else body["text"]["format"]
        assert schema["name"] == "Forecast" and schema["strict"] is True
        assert schema["schema"]["required"] == ["city", "high_c", "conditions", "warning"]


def test_the_async_client_returns_the_structured_result_typed_too(host: Devhost, server: OpenAIServer) -> None:
    async def forecast() -> Forecast:
        async with AsyncAgentStreamClient(host.url) as client:
            run = await client.run("Forecast for Oslo?", agent="forecaster")
            return await run.result(Forecast)

    server.script(Reply(text=json.dumps(FORECAST)))
    assert asyncio.run(forecast()) == Forecast(**FORECAST)


def test_an_invalid_structured_answer_is_retried_with_the_error_then_accepted(
    host: Devhost, server: OpenAIServer
) -> None:
    server.script(Reply(text='{"city": "Oslo", "high_c": "warm"}'), Reply(text=json.dumps(FORECAST)))
    run = AgentStreamClient(host.url).run("Forecast for Oslo?", agent="forecaster")
    assert run.result(Forecast).high_c == 4.5
    assert len(run.discarded_ids) == 1 and run.result().text == json.dumps(FORECAST)
    first, second = model_inputs(server)
    answer, correction = second[len(first) :]
    assert answer == {"role": "assistant", "content": '{"city": "Oslo", "high_c": "warm"}'}
    assert correction["role"] == "user" and correction["content"].startswith(
        "Your answer does not match the required JSON schema (high_c: Input should be a valid number"
    )
    assert "conditions: Field required" in correction["content"]
    messages = host.status(run.thread_id)["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant"]


def test_an_answer_invalid_twice_ends_with_invalid_output(host: Devhost, server: OpenAIServer) -> None:
    server.script(Reply(text="Oslo, 4 degrees."), Reply(text='{"city": "Oslo"}'))
    run = AgentStreamClient(host.url).run("Forecast for Oslo?", agent="forecaster")
    with pytest.raises(NoOutputError, match="ended with invalid_output") as raised:
        run.result(Forecast)
    result = raised.value.result
    assert result.outcome == "error" and result.error["code"] == "invalid_output" and result.output is None
    assert run.terminal is not None and run.terminal.type == "RUN_ERROR"
    assert len(run.discarded_ids) == 2 and result.text == ""
    status = host.status(run.thread_id)
    assert status["runs"][0]["result"] is None and [m["role"] for m in status["messages"]] == ["user"]


@pytest.fixture(scope="module")
def demo_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Devhost]:
    data = tmp_path_factory.mktemp("demo") / "data"
    started = Devhost(
        data, {"MODEL_PROVIDER": "demo", "TEST_ENTRA_TOKEN": "unused"}, app="tests.e2e.models_app"
    ).start()
    yield started
    started.stop()


def test_offline_the_demo_model_answers_in_the_schema_after_a_tool_and_a_retry(demo_host: Devhost) -> None:
    run = AgentStreamClient(demo_host.url).run(
        "Think about the weather in Oslo. [fail:output:once]", agent="forecaster"
    )
    forecast = run.result(Forecast)
    assert forecast.city.startswith("Here is what I found: Oslo: ") and forecast.conditions == [forecast.city]
    events = list(run)
    assert [e.type for e in events].count("TOOL_CALL_RESULT") == 1 and len(run.discarded_ids) == 1
    assert "".join(run.reasoning()).startswith("The user wants me to think first.")
    status = demo_host.status(run.thread_id)
    assert status["runs"][0]["result"] == forecast.model_dump(mode="json")
