"""The retention purge, run through devhost's admin API: an idle thread goes whole, durable history
included; a fresh one stays."""

from __future__ import annotations

import datetime as dt
import json
import time

import requests

from agentstream.functions.orchestration import run_instance_id
from devhost.keys import KEYS_FILE
from tests.harness import Devhost, wait_until

RETENTION_SECONDS = 6
MASTER_KEY = "test-master-key-0123456789"


def instance_status(host: Devhost, run: dict[str, str]) -> int:
    system_key = json.loads((host.data_dir / KEYS_FILE).read_text())["durable_system_key"]
    instance_id = run_instance_id(run["thread_id"], run["run_id"])
    url = f"{host.url}/runtime/webhooks/durabletask/instances/{instance_id}"
    return requests.get(url, params={"code": system_key}, timeout=10).status_code


def last_write(host: Devhost, thread_id: str) -> float:
    updated = host.status(thread_id)["updated_at"].replace("Z", "+00:00")
    return dt.datetime.fromisoformat(updated).timestamp()


def test_the_purge_removes_an_idle_thread_and_its_history_and_keeps_a_fresh_one(make_devhost) -> None:
    host: Devhost = make_devhost(
        {
            "EVENT_RETENTION": f"{RETENTION_SECONDS}s",
            "DEVHOST_MASTER_KEY": MASTER_KEY,
            "PURGE_SCHEDULE": "0 0 0 1 1 *",  # never during the test: it runs through the admin API
        }
    )
    old = host.start_run("An old conversation.")
    host.wait_idle(old["thread_id"])
    idle_since = last_write(host, old["thread_id"])
    wait_until(lambda: time.time() > idle_since + RETENTION_SECONDS + 0.5, timeout=30, interval=0.1)
    fresh = host.start_run("A fresh conversation.")
    host.wait_idle(fresh["thread_id"])
    assert instance_status(host, old) == 200
    assert instance_status(host, fresh) == 200

    purge = requests.post(
        f"{host.url}/admin/functions/purge_expired_threads",
        json={"input": ""},
        headers={"x-functions-key": MASTER_KEY},
        timeout=30,
    )
    assert purge.status_code == 202, purge.text

    gone = requests.get(f"{host.url}{old['status_url']}", timeout=10)
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "thread_not_found"
    assert requests.get(f"{host.url}/api/agent/stream/{old['thread_id']}", timeout=10).status_code == 404
    assert instance_status(host, old) == 404
    kept = host.status(fresh["thread_id"])
    assert [run["run_id"] for run in kept["runs"]] == [fresh["run_id"]]
    assert host.stream(f"/api/agent/stream/{fresh['thread_id']}")[-1].type == "RUN_FINISHED"
    assert instance_status(host, fresh) == 200
    assert "1 idle threads with 1 runs deleted" in host.log_path.read_text()
