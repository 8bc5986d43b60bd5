"""scripts/smoke.py, the post-deploy smoke test, run as a user runs it against a real devhost: it
passes with auth off and with function keys and stream tokens, and fails naming the row when the
target is broken."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.harness import ROOT, Devhost

SMOKE = ROOT / "scripts" / "smoke.py"
FUNCTION_KEY = "smoke-function-key-0123456789"
# A short planned close, so the check that waits for it takes seconds instead of minutes.
FAST_CLOSE = {"STREAM_MAX_SECONDS": "2", "DEMO_TOKENS_PER_SECOND": "200"}
AUTH = {
    "API_AUTH": "function_key",
    "STREAM_TOKEN_SECRET": "smoke-stream-token-secret-0123456789abcdef",
    "DEVHOST_FUNCTION_KEY": FUNCTION_KEY,
}
ROW = re.compile(r"^(?P<name>\S.*?)\s{2,}(?P<outcome>PASS|FAIL|SKIP)\s+(?P<detail>.*)$")
CHECKS = [
    "health",
    "start a run",
    "stream, then drop",
    "resume: no gap, no duplicate",
    "replay equals the live stream",
    "cancel a second run",
    "stream token rules",
    "planned close",
]


@pytest.fixture(scope="module")
def open_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Devhost]:
    host = Devhost(tmp_path_factory.mktemp("smoke-open") / "data", FAST_CLOSE).start()
    yield host
    host.stop()


@pytest.fixture(scope="module")
def keyed_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Devhost]:
    host = Devhost(tmp_path_factory.mktemp("smoke-keyed") / "data", {**FAST_CLOSE, **AUTH}).start()
    yield host
    host.stop()


def smoke(*args: str) -> tuple[int, dict[str, tuple[str, str]]]:
    """Exit code and {check: (outcome, detail)}. -I -S: no site-packages, only the standard library."""
    completed = subprocess.run(
        [sys.executable, "-I", "-S", str(SMOKE), *args], capture_output=True, text=True, timeout=90
    )
    assert completed.stderr == "", completed.stderr
    rows = {}
    for line in completed.stdout.splitlines():
        if match := ROW.match(line):
            rows[match["name"]] = (match["outcome"], match["detail"])
    assert list(rows) == CHECKS, completed.stdout
    return completed.returncode, rows


def outcomes(rows: dict[str, tuple[str, str]]) -> dict[str, str]:
    return {name: outcome for name, (outcome, _) in rows.items()}


def test_smoke_passes_against_an_open_devhost_and_skips_the_token_rules(open_host: Devhost) -> None:
    code, rows = smoke(open_host.url, "--max-stream-seconds", "20")
    assert code == 0, rows
    assert outcomes(rows) == {name: "SKIP" if name == "stream token rules" else "PASS" for name in CHECKS}
    assert rows["stream token rules"][1].startswith("the app issues no stream tokens")
    assert rows["stream, then drop"][1].endswith("dropped mid-answer")
    closed = re.fullmatch(r"the app ended the stream after (\d+\.\d) s \(limit 20 s\)", rows["planned close"][1])
    assert closed and 1.9 <= float(closed[1]) < 20, rows["planned close"]


def test_smoke_passes_with_function_keys_and_stream_tokens(keyed_host: Devhost) -> None:
    code, rows = smoke(keyed_host.url, "--key", FUNCTION_KEY, "--max-stream-seconds", "20")
    assert code == 0, rows
    assert outcomes(rows) == dict.fromkeys(CHECKS, "PASS")
    assert rows["start a run"][1].endswith("with a stream token")
    assert rows["stream token rules"][1] == (
        "no token 401, forged 401, another thread's 403, status 401 without and 200 with; a start without the key 401"
    )


def test_smoke_fails_naming_the_start_row_when_the_key_is_wrong(keyed_host: Devhost) -> None:
    code, rows = smoke(keyed_host.url, "--key", "not-the-key", "--skip-planned-close")
    assert code == 1
    assert rows["health"][0] == "PASS"
    assert rows["start a run"] == ("FAIL", "401: the app refused the function key given with --key")
    assert {outcome for name, (outcome, _) in rows.items() if name not in ("health", "start a run")} == {"SKIP"}


def test_smoke_without_a_key_says_the_app_wants_one(keyed_host: Devhost) -> None:
    code, rows = smoke(keyed_host.url, "--skip-planned-close")
    assert code == 1
    assert rows["start a run"] == ("FAIL", "401: the app wants a function key: --key")


def test_smoke_fails_the_planned_close_when_a_stream_outlives_the_limit(open_host: Devhost) -> None:
    # The app closes after 2 s; a limit of 1 s stands for an app whose streams Azure would cut.
    code, rows = smoke(open_host.url, "--max-stream-seconds", "1")
    assert code == 1
    assert rows["planned close"] == ("FAIL", "the stream was still open after 1 s")
    assert {name for name, (outcome, _) in rows.items() if outcome == "FAIL"} == {"planned close"}


def test_smoke_against_nothing_fails_every_row_it_can_reach(tmp_path) -> None:
    unused = Devhost(tmp_path / "never-started")
    code, rows = smoke(unused.url, "--skip-planned-close", "--timeout", "2")
    assert code == 1
    assert rows["health"][0] == rows["start a run"][0] == "FAIL"
    assert "ConnectionRefusedError" in rows["health"][1]


class RepeatingApp(BaseHTTPRequestHandler):
    """A stand-in app whose resume repeats the event the client already has (an off-by-one cursor)."""

    EVENTS = [
        {"type": "RUN_STARTED"},
        *({"type": "TEXT_MESSAGE_CONTENT", "messageId": "m", "delta": f"{n} "} for n in range(1, 6)),
        {"type": "RUN_FINISHED"},
    ]

    def do_GET(self) -> None:
        if self.path == "/api/health":
            self._json(200, {"status": "ok"})
            return
        after = int(self.headers.get("Last-Event-ID", "0"))
        first = max(after, 1)  # the bug: from `after`, not after it
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache, no-transform")
        self.send_header("x-thread-id", "t1")
        self.end_headers()
        frames = ["retry: 1000\n\n"] + [
            f"id: {seq}\ndata: {json.dumps(self.EVENTS[seq - 1])}\n\n" for seq in range(first, len(self.EVENTS) + 1)
        ]
        self.wfile.write("".join(frames).encode())

    def do_POST(self) -> None:
        url = "/api/agent/stream/t1"
        answer = {"thread_id": "t1", "run_id": "r1", "stream_url": url, "status_url": "/s", "cancel_url": "/c"}
        self._json(202, answer, Location=url)

    def _json(self, status: int, body: dict[str, Any], **headers: str) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_smoke_fails_the_resume_row_when_a_resume_repeats_an_event() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), RepeatingApp)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        code, rows = smoke(f"http://127.0.0.1:{server.server_address[1]}", "--skip-planned-close")
    finally:
        server.shutdown()
        server.server_close()
    assert code == 1
    assert rows["stream, then drop"][0] == "PASS"
    assert rows["resume: no gap, no duplicate"] == (
        "FAIL",
        "ids are not 1..8 in order: missing [], duplicated [4]",
    )
