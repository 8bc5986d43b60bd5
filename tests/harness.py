"""Running devhost as a real subprocess on a free loopback port, and reading its streams."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import requests

from agentstream_client.sse import SSEDecoder

if TYPE_CHECKING:
    from tests.stores.backends import Backend

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(condition: Callable[[], Any], *, timeout: float, interval: float = 0.02, message: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {message or condition}")
        time.sleep(interval)


@dataclass
class StreamEvent:
    id: int
    body: dict[str, Any]

    @property
    def type(self) -> str:
        return str(self.body["type"])


class Devhost:
    """One devhost process; `kill()` is SIGKILL, `start()` again resumes from the same data folder."""

    def __init__(
        self,
        data_dir: Path,
        env: dict[str, str] | None = None,
        *,
        app: str = "function_app",
        backend: Backend | None = None,
    ) -> None:
        self.data_dir = data_dir
        self.app = app
        self.backend = backend
        self.port = free_port()
        self.env = {
            **os.environ,
            "DEMO_TOKENS_PER_SECOND": "500",
            "STEP_RETRY_INTERVAL_MS": "50",
            "PYTHONUNBUFFERED": "1",
            **(env or {}),
        }
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = data_dir.parent / f"{data_dir.name}.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Devhost:
        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "devhost",
                "--port",
                str(self.port),
                "--data-dir",
                str(self.data_dir),
                "--app",
                self.app,
            ],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        wait_until(self._healthy, timeout=30, message=f"devhost health on {self.url} (log: {self.log_path})")
        return self

    def _healthy(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"devhost exited with {self.process.returncode}:\n{self.log_path.read_text()}")
        try:
            return requests.get(f"{self.url}/api/health", timeout=1).status_code == 200
        except (requests.ConnectionError, requests.Timeout):  # not listening yet, or busy recovering runs
            return False

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)

    # -- the API ----------------------------------------------------------------------------

    def start_run(self, message: str, **extra: Any) -> dict[str, Any]:
        response = requests.post(f"{self.url}/api/agent/run", json={"message": message, **extra}, timeout=10)
        assert response.status_code == 202, response.text
        return dict(response.json())

    def status(self, thread_id: str) -> dict[str, Any]:
        response = requests.get(f"{self.url}/api/agent/threads/{thread_id}", timeout=10)
        assert response.status_code == 200, response.text
        return dict(response.json())

    def wait_idle(self, thread_id: str, timeout: float = 30) -> dict[str, Any]:
        def idle() -> dict[str, Any] | None:
            status = self.status(thread_id)
            return status if status["active_run_id"] is None else None

        return dict(wait_until(idle, timeout=timeout, interval=0.05, message=f"thread {thread_id} to be idle"))

    def stream(self, path: str, *, headers: dict[str, str] | None = None, timeout: float = 30) -> list[StreamEvent]:
        """Read a stream to its end."""
        return list(self.iter_stream(path, headers=headers, timeout=timeout))

    def iter_stream(
        self, path: str, *, headers: dict[str, str] | None = None, timeout: float = 30
    ) -> Iterator[StreamEvent]:
        with requests.get(f"{self.url}{path}", headers=headers, stream=True, timeout=timeout) as response:
            assert response.status_code == 200, (response.status_code, response.text)
            assert response.headers["content-type"].startswith("text/event-stream")
            decoder = SSEDecoder()
            for chunk in response.iter_content(chunk_size=None):
                for event in decoder.decode(chunk):
                    assert event.id is not None
                    yield StreamEvent(int(event.id), json.loads(event.data))

    def store_counts(self) -> dict[str, Any]:
        """What the event store holds, read straight from the backend (by default the SQLite file)."""
        if self.backend is not None:
            return self.backend.snapshot(self.env)
        with sqlite3.connect(self.data_dir / "events.db") as con:
            return {
                table: con.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
                for table in ("threads", "events", "runs", "messages", "steps")
            }
