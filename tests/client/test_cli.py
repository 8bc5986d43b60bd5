"""The `agentstream` CLI against a real devhost: answer, tool lines, stats, --json, --thread, --resume."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
from pathlib import Path

from tests.checks import assistant_texts
from tests.harness import ROOT, Devhost


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(Path(sys.executable).parent / "agentstream"), *args], cwd=ROOT, capture_output=True, text=True, timeout=60
    )


def thread_of(stderr: str) -> str:
    match = re.search(r"thread ([0-9a-f]{32})", stderr)
    assert match, stderr
    return match.group(1)


def test_the_cli_prints_the_answer_tool_calls_and_stats(devhost: Devhost) -> None:
    done = cli("--url", devhost.url, "What is the weather in Paris, and what time is it?")
    assert done.returncode == 0, done.stderr
    status = devhost.status(thread_of(done.stderr))
    [first, second] = assistant_texts(status["messages"]).values()
    assert done.stdout == f"{first}\n{second}\n"
    tools = {m["toolCallId"]: m["content"] for m in status["messages"] if m["role"] == "tool"}
    calls = {c["id"]: c["function"] for m in status["messages"] for c in m.get("toolCalls", [])}
    assert sorted(function["name"] for function in calls.values()) == ["get_time", "get_weather"]
    for call_id, function in calls.items():
        assert f"→ {function['name']}({function['arguments']})\n" in done.stderr
        assert f"← {function['name']}: {tools[call_id]}\n" in done.stderr
    [usage] = status["runs"][0]["usage"]
    stats = done.stderr.strip().splitlines()[-1]
    assert f"run {status['runs'][0]['run_id']} · success" in stats
    assert re.search(r"first token \d+\.\d\d s · \d+\.\d tokens/s", stats), stats
    assert f"usage {usage['inputTokens']} in / {usage['outputTokens']} out" in stats
    assert f"last event id {status['last_event_id']}" in stats


def test_json_prints_every_event_and_thread_continues_the_conversation(devhost: Devhost) -> None:
    first = cli("--url", devhost.url, "--json", "Hello!")
    assert first.returncode == 0, first.stderr
    events = [json.loads(line) for line in first.stdout.splitlines()]
    assert [e["id"] for e in events] == list(range(1, len(events) + 1))
    assert events[0]["event"]["type"] == "RUN_STARTED" and events[-1]["event"]["type"] == "RUN_FINISHED"
    thread_id = events[0]["event"]["threadId"]

    second = cli("--url", devhost.url, "--thread", thread_id, "Tell me more.")
    assert second.returncode == 0, second.stderr
    status = devhost.status(thread_id)
    assert [r["status"] for r in status["runs"]] == ["succeeded", "succeeded"]
    assert second.stdout.strip() == list(assistant_texts(status["messages"]).values())[-1]

    resumed = cli("--url", devhost.url, "--json", "--resume", f"{thread_id}:{len(events) + 3}")
    assert resumed.returncode == 0, resumed.stderr
    ids = [json.loads(line)["id"] for line in resumed.stdout.splitlines()]
    assert ids == list(range(len(events) + 4, status["last_event_id"] + 1))


def test_the_cli_shows_reasoning_on_stderr_apart_from_the_answer(devhost: Devhost) -> None:
    done = cli("--url", devhost.url, "Think before you answer, please.")
    assert done.returncode == 0, done.stderr
    assert "[reasoning] The user wants me to think first." in done.stderr
    assert "think first" not in done.stdout
    assert done.stdout.strip() == list(assistant_texts(devhost.status(thread_of(done.stderr))["messages"]).values())[-1]


def test_the_cli_reports_server_errors(devhost: Devhost) -> None:
    done = cli("--url", devhost.url, "--thread", "no-such-thread", "Hi")
    assert done.returncode == 1 and done.stdout == ""
    assert "error: 404 thread_not_found: Thread 'no-such-thread' does not exist." in done.stderr


def test_ctrl_c_cancels_the_run_and_the_cli_reads_on_to_its_end(make_devhost) -> None:
    host: Devhost = make_devhost({"DEMO_TOKENS_PER_SECOND": "20"})
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "agentstream"), "--url", host.url, "Tell me a long story."],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None and process.stdout.read(1)  # the answer has begun
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 2, stderr
    assert "[cancelling the run; Ctrl-C again to quit]" in stderr
    # The answer cut off by the cancel is discarded, and not because a retry follows.
    assert "[the run is cancelled: the step above was cut off, its output is discarded, nothing is retried]" in stderr
    assert "retried" not in stderr.replace("nothing is retried", "")
    assert " · cancelled · " in stderr.strip().splitlines()[-1]
    assert host.status(thread_of(stderr))["runs"][0]["status"] == "cancelled"


def test_json_piped_into_head_exits_cleanly(make_devhost) -> None:
    # Paced, so that the CLI is still writing when head has had its five lines and gone.
    host: Devhost = make_devhost({"DEMO_TOKENS_PER_SECOND": "40"})
    agentstream = Path(sys.executable).parent / "agentstream"
    done = subprocess.run(
        ["bash", "-c", f"set -o pipefail; {agentstream} --url {host.url} --json 'Hi' | head -5"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert len(done.stdout.splitlines()) == 5
    assert done.stderr == ""
