"""Subprocess for the SIGKILL test: starts an instance whose activity blocks, reports "ready", waits to be killed."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from tests.devhost import sample_app
from tests.devhost.harness import running_engine, wait_until


async def main(db_path: Path) -> None:
    async with running_engine(db_path) as engine:
        # The body the SDK client would send: a JSON string literal holding the JSON input.
        engine.management.start("waits_on_blocking", "killed-1", json.dumps(json.dumps("job")))
        await wait_until(lambda: sample_app.BLOCKING_CALLS == ["job"])
        print("ready", flush=True)
        await asyncio.sleep(60)


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1])))
