"""NCRONTAB schedules, as timer triggers write them: six fields, seconds first.

`{second} {minute} {hour} {day} {month} {day-of-week}`, each `*`, a number, a range `a-b`, a step
`*/n` or `a-b/n`, or a comma-separated list of those. Day of week runs 0-6 from Sunday.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

_FIELDS = (("second", 0, 59), ("minute", 0, 59), ("hour", 0, 23), ("day", 1, 31), ("month", 1, 12), ("weekday", 0, 6))


@dataclass(frozen=True)
class Schedule:
    expression: str
    seconds: frozenset[int]
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]

    @classmethod
    def parse(cls, expression: str) -> Schedule:
        parts = expression.split()
        if len(parts) != 6:
            raise ValueError(f"Schedule '{expression}' must have 6 fields (second minute hour day month day-of-week).")
        sets = [_parse_field(part, name, low, high) for part, (name, low, high) in zip(parts, _FIELDS, strict=True)]
        return cls(expression, *sets)

    def next_after(self, moment: dt.datetime) -> dt.datetime:
        """The first matching second strictly after `moment`."""
        candidate = moment.replace(microsecond=0) + dt.timedelta(seconds=1)
        limit = candidate + dt.timedelta(days=366 * 5)
        while candidate < limit:
            if candidate.month not in self.months:
                candidate = (candidate.replace(day=1, hour=0, minute=0, second=0) + dt.timedelta(days=32)).replace(
                    day=1
                )
            elif candidate.day not in self.days or (candidate.isoweekday() % 7) not in self.weekdays:
                candidate = candidate.replace(hour=0, minute=0, second=0) + dt.timedelta(days=1)
            elif candidate.hour not in self.hours:
                candidate = candidate.replace(minute=0, second=0) + dt.timedelta(hours=1)
            elif candidate.minute not in self.minutes:
                candidate = candidate.replace(second=0) + dt.timedelta(minutes=1)
            elif candidate.second not in self.seconds:
                candidate += dt.timedelta(seconds=1)
            else:
                return candidate
        raise ValueError(f"Schedule '{self.expression}' never fires.")


def _parse_field(text: str, name: str, low: int, high: int) -> frozenset[int]:
    values: set[int] = set()
    for item in text.split(","):
        span, _, step_text = item.partition("/")
        step = int(step_text) if step_text else 1
        if span == "*":
            start, end = low, high
        elif "-" in span:
            start, end = (int(v) for v in span.split("-", 1))
        else:
            start = end = int(span)
            if step_text:
                end = high
        if not (low <= start <= end <= high) or step < 1:
            raise ValueError(f"Schedule field {name} '{text}' is outside {low}-{high}.")
        values.update(range(start, end + 1, step))
    return frozenset(values)
