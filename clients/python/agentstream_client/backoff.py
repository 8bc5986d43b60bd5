"""When to reconnect: capped exponential backoff with full jitter."""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass(frozen=True, kw_only=True)
class Backoff:
    """How long to wait before reconnect attempt `n` (0-based), and when to give up.

    The delay is drawn uniformly from `[0, min(maximum, initial * multiplier**n)]` ("full jitter"),
    so many clients dropped at once do not come back in lockstep. `max_attempts` counts failed
    attempts in a row; any event received resets the count.
    """

    initial: float = 0.25
    maximum: float = 10.0
    multiplier: float = 2.0
    max_attempts: int = 10
    rng: random.Random = field(default_factory=random.Random, compare=False, repr=False)

    def delay(self, attempt: int) -> float:
        ceiling = min(self.maximum, self.initial * self.multiplier ** min(attempt, 64))
        return self.rng.uniform(0, ceiling)
