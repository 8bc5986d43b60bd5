"""The Python client and the CLI against a devhost with function keys and stream tokens switched on."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from agentstream_client import AgentStreamClient, AuthenticationError
from tests.client.test_cli import cli
from tests.harness import Devhost

FUNCTION_KEY = "clients-function-key-0123456789"
SECURE_ENV = {
    "API_AUTH": "function_key",
    "STREAM_TOKEN_SECRET": "clients-stream-token-secret-0123456789abcdef",
    "DEVHOST_FUNCTION_KEY": FUNCTION_KEY,
}


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Devhost]:
    host = Devhost(tmp_path_factory.mktemp("secured") / "data", SECURE_ENV).start()
    yield host
    host.stop()


def test_a_run_streams_and_reports_with_its_stream_token_even_beside_a_caller_token(secured: Devhost) -> None:
    # The caller's bearer token (an Entra ID token, say) must not reach the reader routes.
    client = AgentStreamClient(secured.url, token="caller-token", headers={"x-functions-key": FUNCTION_KEY})
    run = client.run("What is the weather in Paris?")
    result = run.result()
    assert result.ok and result.usage["outputTokens"] > 0 and run.stream_token
    assert [e.id for e in run.events] == list(range(1, len(run.events) + 1))

    resumed = client.resume(run.thread_id, after=3, stream_token=run.stream_token)
    assert [e.id for e in resumed] == [e.id for e in run.events[3:]]
    with pytest.raises(AuthenticationError) as refused:
        list(client.stream(run.thread_id))
    assert refused.value.status_code == 401 and refused.value.code == "invalid_token"
    with pytest.raises(AuthenticationError):
        AgentStreamClient(secured.url).run("No key.")


def test_the_cli_runs_with_a_key_and_resumes_with_a_stream_token(secured: Devhost) -> None:
    key = f"x-functions-key: {FUNCTION_KEY}"
    first = cli("--url", secured.url, "--header", key, "--json", "Hello!")
    assert first.returncode == 0, first.stderr
    events = [json.loads(line) for line in first.stdout.splitlines()]
    thread_id = events[0]["event"]["threadId"]
    refused = cli("--url", secured.url, "--resume", f"{thread_id}:2")
    assert refused.returncode == 1 and "error: 401" in refused.stderr
    token = AgentStreamClient(secured.url, headers={"x-functions-key": FUNCTION_KEY}).run(
        "Another turn.", thread_id=thread_id
    )
    token.result()
    resumed = cli("--url", secured.url, "--json", "--resume", f"{thread_id}:2", "--stream-token", token.stream_token)
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout.splitlines()[0])["id"] == 3
