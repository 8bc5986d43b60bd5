"""Azurite's Table service as a real subprocess on a free loopback port (from package.json's pin)."""

from __future__ import annotations

import signal
import socket
import subprocess
from pathlib import Path

from tests.harness import ROOT, free_port, wait_until

AZURITE_TABLE = ROOT / "node_modules" / ".bin" / "azurite-table"
# Azurite's well-known development account (public, documented, local only).
ACCOUNT = "devstoreaccount1"
ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


class Azurite:
    """One azurite-table process. With `workspace`, data is kept on disk and survives `restart()`."""

    def __init__(self, log_path: Path, workspace: Path | None = None) -> None:
        self.port = free_port()
        self.log_path = log_path
        self.workspace = workspace
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def connection_string(self) -> str:
        return (
            f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={ACCOUNT_KEY};"
            f"TableEndpoint=http://127.0.0.1:{self.port}/{ACCOUNT};"
        )

    def start(self) -> Azurite:
        if not AZURITE_TABLE.exists():
            raise AssertionError(
                f"{AZURITE_TABLE} is missing: `make test` installs it (npm ci); `make test-fast` needs no Node"
            )
        storage = ["--location", str(self.workspace)] if self.workspace else ["--inMemoryPersistence"]
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    str(AZURITE_TABLE),
                    "--tableHost",
                    "127.0.0.1",
                    "--tablePort",
                    str(self.port),
                    "--disableTelemetry",
                    "--silent",
                    *storage,
                ],
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        wait_until(self._accepting, timeout=60, message=f"azurite-table on port {self.port} (log: {self.log_path})")
        return self

    def _accepting(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"azurite-table exited with {self.process.returncode}:\n{self.log_path.read_text()}")
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return True
        except OSError:
            return False

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            # SIGINT is Azurite's graceful stop: it saves its workspace first (SIGTERM does not).
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)

    def restart(self) -> Azurite:
        self.stop()
        return self.start()
