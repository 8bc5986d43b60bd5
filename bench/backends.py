"""The event store backends the bench runs against, and the servers they need."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

BACKENDS = ("sqlite",)


@contextlib.contextmanager
def backend_env(name: str, workdir: Path) -> Iterator[dict[str, str]]:
    """The settings that point devhost (and the bench's own store client) at a running backend."""
    if name == "sqlite":
        # One file shared by every host of the bench and by the seeding, as several instances would.
        yield {"EVENT_STORE": "sqlite", "EVENT_STORE_PATH": str(workdir / "events.db")}
    else:
        raise ValueError(f"unknown backend '{name}'; expected one of {', '.join(BACKENDS)}")
