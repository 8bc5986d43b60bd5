"""What the Redis store and its commit watcher share: key names, stream entries, outage errors."""

from __future__ import annotations

import redis.exceptions

from ..events import Envelope

# One hash tag for every key: scripts and the watcher's XREAD touch several keys at once, which a
# clustered Redis (Azure Managed Redis) allows only within one hash slot.
KEY_PREFIX = "{agentstream}"
# Errors that mean the server could not be reached or could not serve (restarting, failing over).
UNREACHABLE = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, redis.exceptions.ReadOnlyError)


def events_key(thread_id: str) -> str:
    """The thread's stream of events, whose entry ids are the seqs (`<seq>-0`)."""
    return f"{KEY_PREFIX}:t:{thread_id}:events"


def envelope_of(entry_id: str, fields: dict[str, str]) -> Envelope:
    return Envelope(int(entry_id.split("-", 1)[0]), fields["run"], float(fields["ts"]), fields["type"], fields["data"])
