"""Reading an activity failure as the orchestrator receives it, without the stack trace around it.

The Durable Python SDK raises ``Exception(f"{Reason} \\n {Details}")`` for a failed activity. In Azure the reason
is ``"Activity function '<name>' failed: "`` followed by the Functions host's message
``"Result: Failure\\nException: <Type>: <message>\\nStack: <traceback>"`` and the details are that exception
serialized as JSON, so the text holds the activity's whole traceback, file paths included. Only the exception's
type and first line of message are taken from it; neither the stack nor the details ever reach a client.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Tolerant of the layout: the host has changed line breaks and spacing around these labels before.
_HOST_EXCEPTION = re.compile(r"Exception:[ \t]*(?P<exception>.*?)\s*(?:\n[ \t]*Stack:|\Z)", re.DOTALL)
_FAILED = re.compile(r"^(?:Activity|Orchestrator) function '[^']*' failed:\s*", re.DOTALL)
_TYPE = re.compile(r"^(?P<type>[A-Za-z_][\w.]*): ?(?P<message>.*)$", re.DOTALL)
_DETAILS_SEPARATOR = " \n "


@dataclass(frozen=True)
class ActivityFailure:
    """``exception_type`` is the Python class name (empty if the text names none); ``message`` its first line."""

    exception_type: str
    message: str

    def __str__(self) -> str:
        return f"{self.exception_type}: {self.message}" if self.exception_type else self.message


def parse_activity_failure(text: str) -> ActivityFailure:
    """The failed activity's exception, from the text of the exception the orchestrator caught."""
    reason = _FAILED.sub("", text, count=1)
    host = re.match(r"Result:\s*\w+\s*\n", reason)
    if host is not None and (match := _HOST_EXCEPTION.search(reason, host.end())) is not None:
        exception = match.group("exception")
    else:
        # Not the host's wrapping (an older or local host): "<Type>: <message>" up to the details.
        exception = reason.split(_DETAILS_SEPARATOR, 1)[0]
    typed = _TYPE.match(exception.strip())
    if typed is None:
        return ActivityFailure("", _first_line(exception))
    return ActivityFailure(typed.group("type").rsplit(".", 1)[-1], _first_line(typed.group("message")))


def _first_line(text: str) -> str:
    return text.strip().split("\n", 1)[0].strip()
