"""Event store backends behind one interface."""

from __future__ import annotations

from .base import EventStore, RunInfo, RunStatus, StepRecord, StepStatus, ThreadHead, ThreadInfo

__all__ = ["EventStore", "RunInfo", "RunStatus", "StepRecord", "StepStatus", "ThreadHead", "ThreadInfo"]
