"""docs/first-ten-minutes.md, run as written against a real devhost.

Its ```sh blocks are terminal 2: one bash session runs them in order, so the ids they keep in
shell variables carry from block to block. Its ```sh terminal-1 blocks start devhost: the test
does that (with the block's settings), as a reader would in terminal 1. The only substitutions
are where things live: devhost's port for 7071, its data folder for `.devhost/`, and the
repository's `.venv/` (the session runs in a scratch folder, so its files land there).
"""

from __future__ import annotations

import json
import queue
import re
import signal
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import pytest
import requests

from tests.checks import assert_contiguous
from tests.harness import ROOT, Devhost, StreamEvent

DOC = ROOT / "docs" / "first-ten-minutes.md"
BLOCK = re.compile(r"^```(sh(?: terminal-1)?)\n(.*?)^```$", re.MULTILINE | re.DOTALL)
START = re.compile(r"^((?:[A-Z_]+=\S+ )*)make run$")
DONE = "__block_done__"
BLOCK_TIMEOUT = 90.0


@dataclass
class Block:
    terminal: int
    text: str


def read_blocks() -> list[Block]:
    return [
        Block(1 if kind.endswith("terminal-1") else 2, text.strip()) for kind, text in BLOCK.findall(DOC.read_text())
    ]


class Shell:
    """One bash session fed block by block; each block's stdout and stderr are read up to a marker."""

    def __init__(self, cwd: Path) -> None:
        self.process = subprocess.Popen(
            ["bash"], cwd=cwd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        assert self.process.stdout is not None and self.process.stderr is not None
        self._out = self._drain(self.process.stdout)
        self._err = self._drain(self.process.stderr)

    @staticmethod
    def _drain(stream: IO[str]) -> queue.Queue[str]:
        lines: queue.Queue[str] = queue.Queue()

        def drain() -> None:
            for line in stream:
                lines.put(line)

        threading.Thread(target=drain, daemon=True).start()
        return lines

    def run(self, text: str) -> tuple[str, str, int]:
        assert self.process.stdin is not None
        # The markers go on lines of their own, after a newline that ends any unfinished last line.
        self.process.stdin.write(f"{text}\n__status=$?; echo; echo {DONE} $__status; echo >&2; echo {DONE} >&2\n")
        self.process.stdin.flush()
        out = self._read_to_marker(self._out, text)
        status = int(out.pop().split()[1])
        err = self._read_to_marker(self._err, text)
        err.pop()
        return "".join(out)[:-1], "".join(err)[:-1], status

    def _read_to_marker(self, lines: queue.Queue[str], text: str) -> list[str]:
        read: list[str] = []
        while not read or not read[-1].startswith(DONE):
            try:
                read.append(lines.get(timeout=BLOCK_TIMEOUT))
            except queue.Empty:
                raise AssertionError(f"no end after {BLOCK_TIMEOUT} s of:\n{text}\nread: {''.join(read)}") from None
        return read

    def close(self) -> None:
        self.process.kill()
        self.process.wait(timeout=10)


def events_of(sse: str) -> list[StreamEvent]:
    frames = [f for f in sse.split("\n\n") if f.startswith("id: ")]
    return [StreamEvent(int(f.split("\n")[0][4:]), json.loads(f.split("\n")[1][6:])) for f in frames]


class Terminal1:
    """What the reader does in terminal 1: start devhost, on one port and data folder throughout."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.port: int | None = None
        self.host: Devhost | None = None

    def start(self, block: Block) -> Devhost:
        match = START.fullmatch(block.text)
        assert match, f"terminal 1 runs `[SETTING=value ...] make run`, not {block.text!r}"
        settings = dict(pair.split("=", 1) for pair in match.group(1).split())
        if self.host is not None and self.host.process is not None and self.host.process.poll() is None:
            self.host.stop()  # the reader's Ctrl-C
        host = Devhost(self.data_dir, settings)
        if self.port is not None:
            host.port = self.port
        self.port = host.port
        self.host = host.start()
        return host

    def stop(self) -> None:
        if self.host is not None:
            self.host.stop()


@pytest.fixture
def terminals(tmp_path: Path) -> Iterator[tuple[Terminal1, Shell]]:
    scratch = tmp_path / "terminal-2"
    scratch.mkdir()
    terminal_1 = Terminal1(tmp_path / "devhost")
    shell = Shell(scratch)
    yield terminal_1, shell
    shell.close()
    terminal_1.stop()


def test_the_walkthrough_runs_as_written(terminals: tuple[Terminal1, Shell]) -> None:
    terminal_1, shell = terminals
    blocks = read_blocks()
    assert [b.terminal for b in blocks] == [1, 2, 2, 2, 2, 2, 2, 2, 1, 2, 2, 1, 2], (
        "the walkthrough changed: update this test"
    )
    outputs: list[str] = []
    for block in blocks:
        if block.terminal == 1:
            host = terminal_1.start(block)
            continue
        text = block.text.replace("7071", str(host.port))
        text = text.replace(".devhost/", f"{host.data_dir}/").replace(". .venv/", f". {ROOT}/.venv/")
        out, err, exit_code = shell.run(text)
        assert exit_code == 0, (block.text, out, err)
        assert "Traceback" not in err, (block.text, err)
        outputs.append(out)
        if "kill -9" in block.text:
            assert host.process is not None and host.process.wait(timeout=10) == -signal.SIGKILL
            story_thread = shell.run('echo "$THREAD"')[0].strip()
    (start, stream, status, dropped, resumed, cursor, killed, finished, cli, cors) = outputs

    # 2. A run, with curl: ids kept in shell variables, then the whole stream and the thread.
    started = json.loads(start)
    assert started["stream_url"] == f"/api/agent/stream/{started['thread_id']}?run_id={started['run_id']}"
    events = events_of(stream)
    assert_contiguous(events)
    assert events[0].body["runId"] == started["run_id"]
    assert (events[-1].id, events[-1].type) == (28, "RUN_FINISHED")  # as the walkthrough shows
    assert [e.body["toolCallName"] for e in events if e.type == "TOOL_CALL_START"] == ["get_weather"]
    thread = json.loads(status)
    assert thread["runs"][0]["status"] == "succeeded"
    assert thread["runs"][0]["usage"] == events[-1].body["usage"]

    # 3. Drop and resume: four events, then the rest from id 5, as text, and ?cursor= refused.
    assert [e.id for e in events_of(dropped)] == [1, 2, 3, 4]
    assert resumed.startswith("retry: ")
    assert [e.id for e in events_of(resumed)] == [5]
    assert resumed.split("\n", 5)[-1].startswith("Let me look that up. \nHere is what I found: Paris: ")
    assert json.loads(cursor)["error"]["code"] == "unknown_parameter"

    # 4. kill -9 mid-run: devhost died with the answer begun, and after the restart it finished.
    assert killed.strip() and "nothing lost and nothing repeated." not in killed
    lines = finished.strip().splitlines()
    assert lines[-1] == "succeeded"
    story = "\n".join(lines[:-1])
    assert story.startswith(killed.strip()), "the words from before the kill come first"
    assert story.endswith("nothing lost and nothing repeated.")
    after_restart = host.stream(f"/api/agent/stream/{story_thread}")
    assert_contiguous(after_restart)
    assert any(e.type == "CUSTOM" and e.body["name"] == "agentstream.step_discarded" for e in after_restart)
    # The CLI section continues this thread: each of its runs ends exactly once.
    started_runs = [e.body["runId"] for e in after_restart if e.type == "RUN_STARTED"]
    assert [e.body["runId"] for e in after_restart if e.type == "RUN_FINISHED"] == started_runs

    # 6. The CLI: the calculator with a closing period, a continued thread, --json into head.
    assert "2*(3+4) = 14." in cli and ".." not in cli
    json_lines = cli.strip().splitlines()[-3:]
    assert [json.loads(line)["id"] for line in json_lines] == [1, 2, 3]

    # 7. CORS: the allowed origin's preflight is answered, another origin is told the setting.
    allowed, refused = cors.split("\n", 1)
    assert allowed == "204"
    assert "CORS_ALLOWED_ORIGINS" in json.loads(refused)["error"]["message"]

    # 5. The chat page, at the address the walkthrough gives.
    assert "http://127.0.0.1:7071/" in DOC.read_text()
    page = requests.get(f"http://127.0.0.1:{host.port}/", timeout=10)
    assert page.status_code == 200 and "<title>agentstream chat</title>" in page.text
