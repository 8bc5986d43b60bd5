"""devhost serving an app: routes from host.json's prefix, Starlette requests, timer triggers on schedule."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import requests

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
