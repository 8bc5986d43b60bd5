"""Delivery latency from stamped deltas, and the statistics the table reports.

A run started with `[stamps:N]` in its message makes the demo model produce N text deltas, each
the wall-clock time (`time.time_ns()`) at which it was handed on. A reader notes its own
`time.time_ns()` when the bytes arrive; the difference is the added delivery latency. Writer
and readers run on one machine, so they share the clock.
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

CONTENT = '"type":"TEXT_MESSAGE_CONTENT"'
TERMINAL = ('"type":"RUN_FINISHED"', '"type":"RUN_ERROR"')


def is_terminal(data: str) -> bool:
    return any(marker in data for marker in TERMINAL)


@dataclass
class Reception:
    """What one reader saw: every event's id, and (receive, stamp) times of the stamped deltas."""

    ids: list[int]
    received_ns: list[int]
    stamped_ns: list[int]
    # Why the reader stopped early, if it did (bench.readers reports a failed stream this way).
    error: str | None = None

    @classmethod
    def empty(cls) -> Reception:
        return cls([], [], [])

    def add(self, received_ns: int, seq: int, data: str) -> None:
        self.ids.append(seq)
        if CONTENT in data:
            stamp = json.loads(data)["delta"].strip()
            if stamp.isdigit():
                self.received_ns.append(received_ns)
                self.stamped_ns.append(int(stamp))

    def latencies_ms(self) -> list[float]:
        return [(r - s) / 1e6 for r, s in zip(self.received_ns, self.stamped_ns, strict=True)]

    def contiguous(self) -> bool:
        return self.ids == list(range(self.ids[0], self.ids[0] + len(self.ids))) if self.ids else True

    def to_json(self) -> dict[str, object]:
        return {"ids": self.ids, "received_ns": self.received_ns, "stamped_ns": self.stamped_ns}

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> Reception:
        return cls(list(body["ids"]), list(body["received_ns"]), list(body["stamped_ns"]), body.get("error"))


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile."""
    if not values:
        raise ValueError("no values")
    ordered = sorted(values)
    return ordered[min(max(math.ceil(fraction * len(ordered)), 1), len(ordered)) - 1]


def median(values: Iterable[float]) -> float:
    return float(statistics.median(list(values)))
