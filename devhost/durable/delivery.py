"""How the engine's queues deliver, for tests that want Azure's delivery rather than the kindest one.

    DEVHOST_DUPLICATE_DELIVERY=1      every activity runs twice (the second run after the first completed, or,
                                      at random, at the same time as it) and both completions are delivered;
                                      every orchestrator episode is replayed twice, the first result thrown away
    DEVHOST_DISPATCH_LATENCY_MS=<n>   every queue hop (an activity's dispatch, every message to an orchestration:
                                      starts, completions, timers, external events) waits a uniformly random
                                      0..n ms before it is picked up

Durable Functions delivers at least once: a worker that loses its lease, a message whose visibility times out,
or a commit that fails after the activity messages were sent all run the same work again. With the Azure Storage
backend an idle queue is polled with a back-off of up to ``maxQueuePollingInterval`` (30 s by default).
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass

DUPLICATE_ENV = "DEVHOST_DUPLICATE_DELIVERY"
LATENCY_ENV = "DEVHOST_DISPATCH_LATENCY_MS"


@dataclass(frozen=True)
class DeliveryMode:
    duplicate: bool = False
    latency_ms: int = 0

    @classmethod
    def from_environment(cls, environ: Mapping[str, str]) -> DeliveryMode:
        duplicate = environ.get(DUPLICATE_ENV, "").strip()
        if duplicate not in ("", "0", "1"):
            raise ValueError(f"{DUPLICATE_ENV} has value '{duplicate}'. Expected 1 (on) or 0 (off).")
        latency = environ.get(LATENCY_ENV, "").strip() or "0"
        if not (latency.isascii() and latency.isdigit()):
            raise ValueError(f"{LATENCY_ENV} has value '{latency}'. Expected a whole number of milliseconds.")
        return cls(duplicate=duplicate == "1", latency_ms=int(latency))

    def hop_delay(self) -> float:
        """Seconds one message waits on its queue before it is picked up."""
        return random.uniform(0, self.latency_ms) / 1000 if self.latency_ms else 0.0

    def duplicate_concurrently(self) -> bool:
        """Whether an activity's second run starts with its first (a lease lost at once) or after it completed."""
        return random.random() < 0.5
