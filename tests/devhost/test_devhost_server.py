"""devhost serving an app: routes from host.json's prefix, Starlette requests, timer triggers on schedule."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
import requests

from devhost.keys import KEYS_FILE
from devhost.schedule import Schedule
from tests.harness import Devhost, wait_until


@pytest.fixture
def timer_host(tmp_path: Path):
    host = Devhost(tmp_path / "data", app="tests.devhost.timer_app").start()
    yield host
    host.stop()


def test_http_triggers_get_a_starlette_request_with_route_parameters(timer_host: Devhost) -> None:
    response = requests.post(f"{timer_host.url}/api/echo/ada/42?x=1", data=b"payload", timeout=5)
    assert response.json() == {
        "name": "ada",
        "count": 42,
        "request": "starlette.requests.Request",
        "query": {"x": "1"},
        "body": "payload",
    }
    assert requests.get(f"{timer_host.url}/api/echo/ada/not-a-number", timeout=5).status_code == 404
    assert requests.delete(f"{timer_host.url}/api/echo/ada/1", timeout=5).status_code == 405


def test_keys_are_enforced_by_auth_level_like_the_host_does(timer_host: Devhost) -> None:
    keys = json.loads((timer_host.data_dir / KEYS_FILE).read_text())
    function_key, master_key = keys["function_key"], keys["master_key"]
    keyed, admin = f"{timer_host.url}/api/keyed", f"{timer_host.url}/api/admin-only"
    assert requests.get(keyed, timeout=5).status_code == 401
    assert requests.get(keyed, headers={"x-functions-key": "wrong"}, timeout=5).status_code == 401
    assert requests.get(keyed, headers={"x-functions-key": function_key}, timeout=5).json() == {"level": "function"}
    assert requests.get(keyed, params={"code": function_key}, timeout=5).status_code == 200
    assert requests.get(keyed, params={"code": master_key}, timeout=5).status_code == 200
    assert requests.get(admin, params={"code": function_key}, timeout=5).status_code == 401
    assert requests.get(admin, params={"code": master_key}, timeout=5).status_code == 200
    assert requests.get(f"{timer_host.url}/api/files/a/b.txt", timeout=5).json() == {"rest": "a/b.txt"}


def test_the_admin_api_runs_a_timer_function_now_with_the_master_key(timer_host: Devhost) -> None:
    master_key = json.loads((timer_host.data_dir / KEYS_FILE).read_text())["master_key"]
    run = f"{timer_host.url}/admin/functions/yearly"
    assert requests.post(run, json={"input": ""}, timeout=5).status_code == 401
    assert (
        requests.post(f"{timer_host.url}/admin/functions/nope", params={"code": master_key}, timeout=5).status_code
        == 404
    )
    answer = requests.post(run, json={"input": ""}, headers={"x-functions-key": master_key}, timeout=5)
    assert answer.status_code == 202
    # devhost answers once the function has run.
    assert requests.get(f"{timer_host.url}/api/health", timeout=5).json()["yearly"] == 1


def test_timer_triggers_fire_on_their_schedule(timer_host: Devhost) -> None:
    def fired_twice() -> bool:
        return requests.get(f"{timer_host.url}/api/health", timeout=5).json()["fired"] >= 2

    wait_until(fired_twice, timeout=10, interval=0.1, message="two timer firings")


def test_ncrontab_schedules() -> None:
    start = dt.datetime(2026, 11, 22, 10, 15, 30, 500, tzinfo=dt.UTC)
    assert Schedule.parse("*/1 * * * * *").next_after(start) == start.replace(second=31, microsecond=0)
    assert Schedule.parse("0 */5 * * * *").next_after(start) == start.replace(minute=20, second=0, microsecond=0)
    assert Schedule.parse("0 0 3 * * *").next_after(start) == dt.datetime(2026, 11, 23, 3, tzinfo=dt.UTC)
    # 2026-11-22 is a Sunday: the next Monday 09:30 is the 23rd.
    assert Schedule.parse("0 30 9 * * 1").next_after(start) == dt.datetime(2026, 11, 23, 9, 30, tzinfo=dt.UTC)
    assert Schedule.parse("0 0 0 1 1,7 *").next_after(start) == dt.datetime(2027, 1, 1, tzinfo=dt.UTC)
    with pytest.raises(ValueError, match="6 fields"):
        Schedule.parse("* * * * *")
    with pytest.raises(ValueError, match="outside"):
        Schedule.parse("0 61 * * * *")
