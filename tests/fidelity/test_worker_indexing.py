"""function_app.py loads under the Python worker's own indexing, as it will under `func start` and in Azure."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.harness import ROOT

SCRIPT = Path(__file__).with_name("index_with_worker.py")


def index(app_dir: Path, script: str = "function_app.py", env: dict[str, str] | None = None) -> dict:
    completed = subprocess.run(
        [sys.executable, str(SCRIPT), script],
        cwd=app_dir,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(completed.stdout.strip().splitlines()[-1])


def test_function_app_indexes_in_http_streams_mode_with_every_function() -> None:
    result = index(ROOT)
    assert "error" not in result, result["error"] if "error" in result else ""
    assert result["http_streams"] is True
    assert result["functions"] == {
        "start_run": ["durableClient", "httpTrigger", "http"],
        "start_agent_run": ["durableClient", "httpTrigger", "http"],
        "run_agui": ["durableClient", "httpTrigger", "http"],
        "run_agent_agui": ["durableClient", "httpTrigger", "http"],
        "list_agents": ["httpTrigger", "http"],
        "chat": ["durableClient", "httpTrigger", "http"],
        "resume_chat": ["durableClient", "httpTrigger", "http"],
        "stop_chat": ["durableClient", "httpTrigger", "http"],
        "get_chat": ["httpTrigger", "http"],
        "cancel_run": ["durableClient", "httpTrigger", "http"],
        "submit_tool_results": ["durableClient", "httpTrigger", "http"],
        "stream_thread": ["httpTrigger", "http"],
        "get_thread": ["durableClient", "httpTrigger", "http"],
        "health": ["httpTrigger", "http"],
        "chat_page": ["httpTrigger", "http"],
        "cors_preflight": ["httpTrigger", "http"],
        "openapi_document": ["httpTrigger", "http"],
        "unmatched_route": ["httpTrigger", "http"],
        "agent_run": ["orchestrationTrigger"],
        "model_step": ["activityTrigger"],
        "tool_step": ["activityTrigger"],
        "finish_run": ["activityTrigger"],
        "open_run": ["activityTrigger"],
        "start_next_run": ["durableClient", "activityTrigger"],
        "purge_expired_threads": ["durableClient", "timerTrigger"],
    }
    assert result["schedules"] == {"purge_expired_threads": "0 17 3 * * *"}


def test_with_function_keys_only_the_callers_routes_require_a_key_and_the_purge_takes_its_schedule() -> None:
    result = index(ROOT, env={"API_AUTH": "function_key", "PURGE_SCHEDULE": "0 */5 * * * *"})
    assert result["schedules"] == {"purge_expired_threads": "0 */5 * * * *"}
    assert result["auth_levels"] == {
        "start_run": "FUNCTION",
        "start_agent_run": "FUNCTION",
        "run_agui": "FUNCTION",
        "run_agent_agui": "FUNCTION",
        "list_agents": "FUNCTION",
        "chat": "FUNCTION",
        "resume_chat": "FUNCTION",
        "stop_chat": "FUNCTION",
        "get_chat": "FUNCTION",
        "cancel_run": "FUNCTION",
        "submit_tool_results": "FUNCTION",
        "stream_thread": "ANONYMOUS",
        "get_thread": "ANONYMOUS",
        "health": "ANONYMOUS",
        "chat_page": "ANONYMOUS",
        "cors_preflight": "ANONYMOUS",
        "openapi_document": "ANONYMOUS",
        "unmatched_route": "ANONYMOUS",
    }
    assert set(index(ROOT, env={"API_AUTH": "none"})["auth_levels"].values()) == {"ANONYMOUS"}


def test_the_indexing_rejects_a_classic_http_trigger_in_streams_mode(tmp_path: Path) -> None:
    # Guards the check above: the same code refuses what Azure would refuse.
    (tmp_path / "classic_app.py").write_text(
        "import azure.functions as func\n"
        "from azurefunctions.extensions.http.fastapi import Request, Response\n"
        "app = func.FunctionApp()\n"
        "@app.route(route='classic')\n"
        "def classic(req: func.HttpRequest) -> func.HttpResponse:\n"
        "    return func.HttpResponse('x')\n"
    )
    result = index(tmp_path, "classic_app.py")
    assert "FunctionLoadError" in result["error"] and "classic" in result["error"]
