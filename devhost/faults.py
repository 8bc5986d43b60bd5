"""Faults on purpose, for tests: `DEVHOST_FAULT` makes devhost die or stall at a named point.

    DEVHOST_FAULT=kill:<point>          SIGKILL devhost the first time it reaches <point>
    DEVHOST_FAULT=kill:<point>:<n>      ... the n-th time
    DEVHOST_FAULT=delay:<point>:<ms>    wait <ms> milliseconds each time (activity points only)

Points, each where a crash or a slow host really hurts (a point ending in `*` matches by prefix):

    start                   an orchestration start arrived, before its instance exists (the run's
                            RUN_STARTED is committed: the kill between commit and start)
    event.<name>            an external event arrived, before it is queued: `event.cancel` (the store
                            has the cancel flag), `event.tool_result_*` (the tool result is committed)
    activity.<name>         an activity is about to run, e.g. `activity.finish_run`
    completed.<name>        an activity ran, before its completion is recorded in the history, e.g.
                            `completed.finish_run` (the terminal event is written; the restart runs it again)

Counts start at each process start: a test restarts devhost without the variable.
"""

from __future__ import annotations

import asyncio
import os
import signal
from dataclasses import dataclass

ENV = "DEVHOST_FAULT"
_ACTIONS = ("kill", "delay")


@dataclass
class FaultPlan:
    action: str
    point: str
    amount: int
    reached: int = 0

    @classmethod
    def parse(cls, value: str) -> FaultPlan:
        action, point, *amount = value.split(":")
        valid = action in _ACTIONS and point and len(amount) <= 1 and all(a.isascii() and a.isdigit() for a in amount)
        if not valid or (action == "delay" and not amount):
            raise ValueError(
                f"{ENV} has value '{value}'. Expected kill:<point>[:<n>] or delay:<point>:<ms> (see devhost/faults.py)."
            )
        return cls(action, point, int(amount[0]) if amount else 1)

    def matches(self, point: str) -> bool:
        if self.point.endswith("*"):
            return point.startswith(self.point[:-1])
        return point == self.point

    def kill_if_due(self, point: str) -> None:
        if self.action != "kill" or not self.matches(point):
            return
        self.reached += 1
        if self.reached == self.amount:
            os.kill(os.getpid(), signal.SIGKILL)

    async def pause(self, point: str) -> None:
        if self.action == "delay" and self.matches(point):
            await asyncio.sleep(self.amount / 1000)


_plan: FaultPlan | None = None


def configure(value: str | None) -> None:
    """Read the plan (at startup, so a bad value stops devhost at once)."""
    global _plan
    _plan = FaultPlan.parse(value) if value else None


def reached(point: str) -> None:
    """A point where devhost may be told to die."""
    if _plan is not None:
        _plan.kill_if_due(point)


async def areached(point: str) -> None:
    """A point where devhost may be told to die or to stall."""
    if _plan is not None:
        _plan.kill_if_due(point)
        await _plan.pause(point)
