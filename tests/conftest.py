from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness import Devhost


@pytest.fixture(scope="module")
def devhost(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Devhost]:
    """A devhost shared by a test module, with a fast demo model."""
    host = Devhost(tmp_path_factory.mktemp("devhost") / "data").start()
    yield host
    host.stop()


@pytest.fixture
def make_devhost(tmp_path: Path) -> Iterator[object]:
    """Devhosts with their own settings, stopped after the test."""
    started: list[Devhost] = []

    def make(env: dict[str, str] | None = None, name: str = "data") -> Devhost:
        host = Devhost(tmp_path / name, env).start()
        started.append(host)
        return host

    yield make
    for host in started:
        host.stop()
