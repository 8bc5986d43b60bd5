"""devhost's start: the banner only once it serves, a clear failure on a busy port, quiet Azure SDK logs."""

from __future__ import annotations

import logging
import queue
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from agentstream.telemetry import AZURE_HTTP_LOGGER, quiet_azure_http_logging
from tests.harness import ROOT, Devhost, free_port
from tests.stores.backends import TableBackend

BANNER = "agentstream devhost: http://"


def _devhost_command(port: int, data_dir: Path) -> list[str]:
    return [sys.executable, "-m", "devhost", "--port", str(port), "--data-dir", str(data_dir)]


def test_a_busy_port_prints_no_banner_and_exits_non_zero(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        finished = subprocess.run(_devhost_command(port, tmp_path / "data"), cwd=ROOT, capture_output=True, timeout=60)
    assert finished.returncode != 0
    assert BANNER not in finished.stdout.decode() + finished.stderr.decode()
    assert f"cannot listen on 127.0.0.1:{port}" in finished.stderr.decode()
    assert "--port" in finished.stderr.decode()
    assert b"Traceback" not in finished.stderr


def test_the_banner_comes_once_the_app_answers(tmp_path: Path) -> None:
    port = free_port()
    process = subprocess.Popen(
        _devhost_command(port, tmp_path / "data"), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    )
    lines: queue.Queue[bytes] = queue.Queue()
    assert process.stdout is not None
    threading.Thread(target=lambda: [lines.put(line) for line in process.stdout], daemon=True).start()  # type: ignore[union-attr]
    try:
        first = lines.get(timeout=60).decode()
        assert first.startswith(f"{BANNER}127.0.0.1:{port}")
        # No retry: the first request after the banner must be answered.
        assert requests.get(f"http://127.0.0.1:{port}/api/health", timeout=10).status_code == 200
        assert (tmp_path / "data" / "devhost.pid").read_text() == f"{process.pid}\n"
    finally:
        process.terminate()
        process.wait(timeout=10)
    assert not (tmp_path / "data" / "devhost.pid").exists()  # a stale id would point kill -9 at another process


@pytest.fixture
def table_backend(tmp_path: Path) -> Iterator[TableBackend]:
    backend = TableBackend(tmp_path / "table")
    backend.start()
    yield backend
    backend.stop()


@pytest.mark.node
def test_the_table_store_logs_no_azure_sdk_requests_at_the_default_level(
    tmp_path: Path, table_backend: TableBackend
) -> None:
    host = Devhost(tmp_path / "data", table_backend.new_env(), backend=table_backend).start()
    try:
        started = host.start_run("What is the weather in Paris?")
        host.wait_idle(started["thread_id"])
        assert [e.type for e in host.stream(f"/api/agent/stream/{started['thread_id']}")][-1] == "RUN_FINISHED"
    finally:
        host.stop()
    log = host.log_path.read_text()
    assert "agentstream.agent.runs" in log  # the log was written, at INFO
    assert "Request URL" not in log and AZURE_HTTP_LOGGER not in log
    assert "expected_type" not in log  # the Durable SDK's notice on every start


def test_a_level_set_on_purpose_for_azure_sdk_requests_is_kept() -> None:
    azure_http = logging.getLogger(AZURE_HTTP_LOGGER)
    before = azure_http.level
    try:
        azure_http.setLevel(logging.NOTSET)
        quiet_azure_http_logging()
        assert azure_http.level == logging.WARNING
        azure_http.setLevel(logging.INFO)
        quiet_azure_http_logging()
        assert azure_http.level == logging.INFO
    finally:
        azure_http.setLevel(before)
