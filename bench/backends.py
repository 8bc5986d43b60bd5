"""The event store backends the bench runs against, with the servers they need.

Servers are started the way the tests start them (`tests/stores/backends.py`: redis-server on a
free loopback port; `tests/azurite.py`: Azurite from node_modules), so what is measured is what
is tested.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from agentstream.config import Settings
from agentstream.log.stores import EventStore, create_store
from tests.azurite import Azurite
from tests.stores.backends import RedisBackend, SQLiteBackend

BACKENDS = ("sqlite", "redis", "table")
# The tests fsync every write so that killing redis-server loses nothing; the bench measures the
# once-a-second fsync that a managed Redis with AOF persistence runs with.
REDIS_APPENDFSYNC = "everysec"


@contextlib.contextmanager
def backend_env(name: str, workdir: Path) -> Iterator[dict[str, str]]:
    """The settings that point devhost (and the bench's own store client) at a running backend."""
    if name == "sqlite":
        # One file shared by every host of the bench and by the seeding, as several instances would.
        yield SQLiteBackend(workdir).new_env()
    elif name == "redis":
        redis_server = RedisBackend(workdir / "redis")
        redis_server.start()
        try:
            env = redis_server.new_env()
            with redis_server.client(env) as client:
                client.config_set("appendfsync", REDIS_APPENDFSYNC)
            yield env
        finally:
            redis_server.stop()
    elif name == "table":
        azurite = Azurite(workdir / "azurite.log").start()
        try:
            yield {"EVENT_STORE": "table", "AzureWebJobsStorage": azurite.connection_string}
        finally:
            azurite.stop()
    else:
        raise ValueError(f"unknown backend '{name}'; expected one of {', '.join(BACKENDS)}")


def open_store(env: dict[str, str]) -> EventStore:
    return create_store(Settings.from_env(env))
