"""Error messages name the field or the setting to use, not just what went wrong."""

from __future__ import annotations

import requests

from tests.harness import Devhost


def test_a_body_without_message_names_the_field_that_carries_the_text(devhost: Devhost) -> None:
    before = devhost.store_counts()
    response = requests.post(f"{devhost.url}/api/agent/run", json={"prompt": "hi"}, timeout=10)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_body"
    assert "'message'" in error["message"] and "'prompt'" in error["message"]
    assert devhost.store_counts() == before


def test_an_unknown_field_next_to_message_lists_the_fields_the_body_takes(devhost: Devhost) -> None:
    response = requests.post(f"{devhost.url}/api/agent/run", json={"message": "hi", "colour": "red"}, timeout=10)
    assert response.status_code == 400
    assert response.json()["error"]["message"] == (
        "Unknown field 'colour': the body takes 'message', 'messages', 'thread_id', 'tools', 'resume', 'state', "
        "'multitask_strategy'."
    )


def test_a_refused_origin_names_the_setting_that_allows_it(devhost: Devhost) -> None:
    response = requests.options(
        f"{devhost.url}/api/agent/run",
        headers={"Origin": "http://localhost:5173", "Access-Control-Request-Method": "POST"},
        timeout=10,
    )
    assert response.status_code == 403
    error = response.json()["error"]
    assert error["code"] == "origin_not_allowed"
    assert "CORS_ALLOWED_ORIGINS=http://localhost:5173" in error["message"]
