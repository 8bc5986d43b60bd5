"""Closing the embedded store while reads are still running in worker threads.

A reader's tail can still be inside a query when the app (or a test) closes the store. Closing a
SQLite connection under a running statement crashes the interpreter, so this runs in a child
process: a crash fails the test instead of taking the test run down with it.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROUNDS = 100

CHILD = f"""
import asyncio, sys
from pathlib import Path
from ag_ui.core import CustomEvent
from agentstream.log.events import NewEvent
from agentstream.exceptions import StoreUnavailable
from agentstream.log.stores.sqlite import SQLiteEventStore

async def main() -> None:
    finished = 0
    for n in range({ROUNDS}):
        store = SQLiteEventStore(Path(sys.argv[1]) / f"{{n}}.db")
        events = [NewEvent.of(CustomEvent(name="e", value=i)) for i in range(50)]
        await store.start_run("t", "r", events, [], create=True, agent="a")
        reads = [asyncio.create_task(store.read("t", after=0)) for _ in range(8)]
        await asyncio.sleep(0)
        await store.close()
        for read in reads:
            try:
                assert len(await read) == 50
            except StoreUnavailable:
                pass
        finished += 1
    print(finished)

asyncio.run(main())
"""


def test_closing_under_running_reads_never_crashes(tmp_path: Path) -> None:
    child = subprocess.run([sys.executable, "-c", CHILD, str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert child.returncode == 0, child.stderr[-2000:]
    assert child.stdout.split() == [str(ROUNDS)]
