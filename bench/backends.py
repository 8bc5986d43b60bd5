"""The event store backends the bench runs against, with the servers they need.

Servers are started the way the tests start them (`tests/azurite.py`: Azurite from
node_modules on a free loopback port), so what is measured is what is tested.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from agentstream.config import Settings
from agentstream.runtime import create_store
from agentstream.stores.base import EventStore
from tests.azurite import Azurite

BACKENDS = ("sqlite", "table")


@contextlib.contextmanager
def backend_env(name: str, workdir: Path) -> Iterator[dict[str, str]]:
    """The settings that point devhost (and the bench's own store client) at a running backend."""
    if name == "sqlite":
        # One file shared by every host of the bench and by the seeding, as several instances would.
        yield {"EVENT_STORE": "sqlite", "EVENT_STORE_PATH": str(workdir / "events.db")}
    elif name == "table":
        azurite = Azurite(workdir / "azurite.log").start()
        try:
            yield {"EVENT_STORE": "table", "AzureWebJobsStorage": azurite.connection_string}
        finally:
            azurite.stop()
    else:
        raise ValueError(f"unknown backend '{name}'; expected one of {', '.join(BACKENDS)}")


def open_store(name: str, env: dict[str, str]) -> EventStore:
    return create_store(Settings.from_env(env))
