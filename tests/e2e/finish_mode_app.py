"""The function app plus one route that starts runs in the `finish` client-tool mode.

The AG-UI endpoint starts its runs that way; this route lets the tests drive the mode through the
same core function (`agentstream.agent.runs.start_run`) over real HTTP.
"""

# mypy: allow-untyped-decorators

from __future__ import annotations

from typing import Any

import azure.durable_functions as df
import azure.functions as func
from azurefunctions.extensions.http.fastapi import JSONResponse, Request, Response

from agentstream.agent import runs
from agentstream.config import get_settings
from agentstream.functions.instances import orchestration_status
from agentstream.functions.orchestration import run_instance_id
from agentstream.http.handlers import api_endpoint
from agentstream.http.inputs import read_run_request
from function_app import app

bp = df.Blueprint(http_auth_level=func.AuthLevel.ANONYMOUS)


@bp.route(route="test/finishing-run", methods=["POST"])
@bp.durable_client_input(client_name="client")
async def start_finishing_run(req: Request, client: df.DurableOrchestrationClient) -> Response:
    async def start_orchestration(run: dict[str, Any]) -> None:
        await client.start_new("agent_run", run_instance_id(run["thread_id"], run["run_id"]), run)

    @api_endpoint
    async def handle(request: Request) -> Response:
        settings = get_settings()
        body = await read_run_request(
            request, max_bytes=settings.max_request_bytes, max_message_chars=settings.max_message_chars
        )
        started = await runs.start_run(
            body,
            app.agents.default,
            start_orchestration,
            orchestration_status=orchestration_status(client),
            client_tools="finish",
            create_thread=True,
        )
        return JSONResponse({"thread_id": started.thread_id, "run_id": started.run_id}, status_code=202)

    return await handle(req)


app.register_functions(bp)
