"""Local stand-in for the Durable Functions extension (legacy out-of-proc JSON protocol of the Python SDK 1.x)."""

from __future__ import annotations

from .engine import DurableEngine

__all__ = ["DurableEngine"]
