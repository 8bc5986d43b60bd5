from __future__ import annotations

import hashlib
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness import ROOT, Devhost

AGENT_FRAMEWORK_REQUIREMENTS = Path(__file__).with_name("agent-framework-requirements.txt")


@pytest.fixture(scope="package")
def agui_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Devhost]:
    """One devhost for the AG-UI tests; paced so a run lasts long enough to join it mid-stream."""
    host = Devhost(tmp_path_factory.mktemp("agui") / "data", {"DEMO_TOKENS_PER_SECOND": "200"}).start()
    yield host
    host.stop()


@pytest.fixture(scope="session")
def agent_framework_python() -> Path:
    """The Python of a virtualenv holding Agent Framework's AG-UI client, made once and then reused.

    It lives under `.cache/` (git-ignored), keyed by the requirements file, so a change of pins
    makes a new one. Creating it takes about 20 s on a warm pip cache.
    """
    key = hashlib.sha256(AGENT_FRAMEWORK_REQUIREMENTS.read_bytes()).hexdigest()[:12]
    venv = ROOT / ".cache" / f"agent-framework-{key}"
    python = venv / "bin" / "python"
    stamp = venv / ".installed"
    if not stamp.exists():
        started = time.monotonic()
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", "-r", str(AGENT_FRAMEWORK_REQUIREMENTS)],
            check=True,
            timeout=900,
        )
        stamp.write_text(f"installed in {time.monotonic() - started:.0f} s\n")
    return python
