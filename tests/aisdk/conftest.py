from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.harness import Devhost


@pytest.fixture(scope="package")
def chat_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Devhost]:
    """One devhost for the AI SDK tests; paced so a run lasts long enough to cut and resume it."""
    host = Devhost(tmp_path_factory.mktemp("aisdk") / "data", {"DEMO_TOKENS_PER_SECOND": "50"}).start()
    yield host
    host.stop()
