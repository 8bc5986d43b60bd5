"""Recovery: in-flight instances resume after the engine stops or its process is SIGKILLed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from tests.devhost import sample_app
from tests.devhost.harness import client_for, run, running_engine, wait_for_status, wait_until

DONE = {"Completed", "Failed", "Terminated"}
REPO_ROOT = Path(__file__).resolve().parents[2]


def test_activity_in_flight_reruns_after_restart(tmp_path: Path) -> None:
    db_path = tmp_path / "d.db"

    async def body() -> None:
        async with running_engine(db_path) as engine:
            client = client_for(engine)
            instance_id = await client.start_new("waits_on_blocking", "restart-1", "job")
            await wait_until(lambda: sample_app.BLOCKING_CALLS == ["job"])
        # The engine stopped mid-activity; a new engine on the same database must run it again.
        sample_app.GATE["open"] = True
        async with running_engine(db_path) as engine:
            client = client_for(engine)
            status = await wait_for_status(client, instance_id, DONE)
            assert status.runtime_status.value == "Completed"
            assert status.output == "unblocked job"
            assert sample_app.BLOCKING_CALLS == ["job", "job"]
            await engine.wait_for_idle()

    run(body)


def test_timer_rearmed_after_restart(tmp_path: Path) -> None:
    db_path = tmp_path / "d.db"

    async def body() -> None:
        async with running_engine(db_path) as engine:
            client = client_for(engine)
            await client.start_new("race", "restart-2", 300)
            await wait_until(lambda: len(engine.management.history("restart-2")) >= 3)
        async with running_engine(db_path) as engine:
            status = await wait_for_status(client_for(engine), "restart-2", DONE)
            assert status.output == "timeout"

    run(body)


def test_sigkilled_process_resumes_in_flight_activity(tmp_path: Path) -> None:
    db_path = tmp_path / "d.db"
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    target = subprocess.Popen(
        [sys.executable, "-m", "tests.devhost.kill_target", str(db_path)],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert target.stdout is not None
        assert target.stdout.readline().strip() == "ready"
    finally:
        target.send_signal(signal.SIGKILL)
        target.wait(timeout=10)
        if target.stdout is not None:
            target.stdout.close()

    async def body() -> None:
        sample_app.GATE["open"] = True
        async with running_engine(db_path) as engine:
            status = await wait_for_status(client_for(engine), "killed-1", DONE)
            assert status.output == "unblocked job"
            # The killed process ran the activity once; this one ran it again.
            assert sample_app.BLOCKING_CALLS == ["job"]

    run(body)
