"""The HTTP API as Azure Functions HTTP triggers (HTTP streams mode: FastAPI requests and responses).

Routes for callers use CALLER_AUTH_LEVEL (see auth.py); readers and health are anonymous.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import azure.durable_functions as df
import azure.functions as func
from azurefunctions.extensions.http.fastapi import Request, Response

from agentstream.agent.runs import OrchestrationStarter
from agentstream.functions.auth import CALLER_AUTH_LEVEL
from agentstream.functions.instances import orchestration_status
from agentstream.functions.orchestration import CANCEL_EVENT, run_instance_id, tool_result_event
from agentstream.http import agui, ai_sdk, fallback, handlers, openapi

bp = df.Blueprint(http_auth_level=func.AuthLevel.ANONYMOUS)
WEB_ROOT = Path(__file__).resolve().parent.parent / "web"


@bp.route(route="agent/run", methods=["POST"], auth_level=CALLER_AUTH_LEVEL)
@bp.durable_client_input(client_name="client")
async def start_run(req: Request, client: df.DurableOrchestrationClient) -> Response:
    return await handlers.start_run(req, orchestration_starter(client), orchestration_status(client))


@bp.route(route="agents/{name}/run", methods=["POST"], auth_level=CALLER_AUTH_LEVEL)
@bp.durable_client_input(client_name="client")
async def start_agent_run(req: Request, client: df.DurableOrchestrationClient) -> Response:
    return await handlers.start_run(
        req, orchestration_starter(client), orchestration_status(client), req.path_params["name"]
    )


@bp.route(route="agent/ag-ui", methods=["POST"], auth_level=CALLER_AUTH_LEVEL)
@bp.durable_client_input(client_name="client")
async def run_agui(req: Request, client: df.DurableOrchestrationClient) -> Response:
    return await agui.run_agui(req, orchestration_starter(client), orchestration_status(client))


@bp.route(route="agents/{name}/ag-ui", methods=["POST"], auth_level=CALLER_AUTH_LEVEL)
@bp.durable_client_input(client_name="client")
async def run_agent_agui(req: Request, client: df.DurableOrchestrationClient) -> Response:
    return await agui.run_agui(
        req, orchestration_starter(client), orchestration_status(client), req.path_params["name"]
    )


@bp.route(route="agents", methods=["GET"], auth_level=CALLER_AUTH_LEVEL)
async def list_agents(req: Request) -> Response:
    return await handlers.list_agents(req)


@bp.route(route="agents/{name}/chat", methods=["POST"], auth_level=CALLER_AUTH_LEVEL)
@bp.durable_client_input(client_name="client")
async def chat(req: Request, client: df.DurableOrchestrationClient) -> Response:
    return await ai_sdk.chat(req, orchestration_starter(client), orchestration_status(client), req.path_params["name"])


@bp.route(route="agents/{name}/chat/{chat_id}/stream", methods=["GET"], auth_level=CALLER_AUTH_LEVEL)
@bp.durable_client_input(client_name="client")
async def resume_chat(req: Request, client: df.DurableOrchestrationClient) -> Response:
    return await ai_sdk.resume_stream(
        req, req.path_params["chat_id"], req.path_params["name"], orchestration_status(client)
    )


@bp.route(route="agents/{name}/chat/{chat_id}/stop", methods=["POST"], auth_level=CALLER_AUTH_LEVEL)
@bp.durable_client_input(client_name="client")
async def stop_chat(req: Request, client: df.DurableOrchestrationClient) -> Response:
    async def signal_cancel(thread_id: str, run_id: str) -> None:
        await client.raise_event(run_instance_id(thread_id, run_id), CANCEL_EVENT)

    return await ai_sdk.stop(
        req, req.path_params["chat_id"], req.path_params["name"], signal_cancel, orchestration_status(client)
    )


@bp.route(route="agents/{name}/chat/{chat_id}", methods=["GET"], auth_level=CALLER_AUTH_LEVEL)
async def get_chat(req: Request) -> Response:
    return await ai_sdk.get_chat(req, req.path_params["chat_id"], req.path_params["name"])


def orchestration_starter(client: df.DurableOrchestrationClient) -> OrchestrationStarter:
    async def start_orchestration(run: dict[str, Any]) -> None:
        await client.start_new("agent_run", run_instance_id(run["thread_id"], run["run_id"]), run)

    return start_orchestration


@bp.route(route="agent/threads/{thread_id}/runs/{run_id}/cancel", methods=["POST"], auth_level=CALLER_AUTH_LEVEL)
@bp.durable_client_input(client_name="client")
async def cancel_run(req: Request, client: df.DurableOrchestrationClient) -> Response:
    async def signal_cancel(thread_id: str, run_id: str) -> None:
        await client.raise_event(run_instance_id(thread_id, run_id), CANCEL_EVENT)

    return await handlers.cancel_run(
        req, req.path_params["thread_id"], req.path_params["run_id"], signal_cancel, orchestration_status(client)
    )


@bp.route(route="agent/threads/{thread_id}/runs/{run_id}/tool-results", methods=["POST"], auth_level=CALLER_AUTH_LEVEL)
@bp.durable_client_input(client_name="client")
async def submit_tool_results(req: Request, client: df.DurableOrchestrationClient) -> Response:
    async def signal_results(thread_id: str, run_id: str, tool_call_ids: list[str]) -> None:
        for tool_call_id in tool_call_ids:
            await client.raise_event(
                run_instance_id(thread_id, run_id), tool_result_event(tool_call_id), {"toolCallId": tool_call_id}
            )

    return await handlers.submit_tool_results(
        req, req.path_params["thread_id"], req.path_params["run_id"], signal_results
    )


@bp.route(route="agent/stream/{thread_id}", methods=["GET"])
async def stream_thread(req: Request) -> Response:
    return await handlers.stream_thread(req, req.path_params["thread_id"])


@bp.route(route="agent/threads/{thread_id}", methods=["GET"])
@bp.durable_client_input(client_name="client")
async def get_thread(req: Request, client: df.DurableOrchestrationClient) -> Response:
    return await handlers.get_thread(req, req.path_params["thread_id"], orchestration_status(client))


@bp.route(route="health", methods=["GET"])
async def health(req: Request) -> Response:
    return await handlers.health(req)


@bp.route(route="ui/{*path}", methods=["GET"])
async def chat_page(req: Request) -> Response:
    return await handlers.web_file(req, WEB_ROOT, req.path_params.get("path") or "")


# Browsers send preflights without keys or tokens: anonymous OPTIONS routes answer them all.
@bp.route(route="agent/{*path}", methods=["OPTIONS"])
async def cors_preflight(req: Request) -> Response:
    return await handlers.cors_preflight(req)


@bp.route(route="openapi.json", methods=["GET"])
async def openapi_document(req: Request) -> Response:
    return await openapi.serve_openapi(req)


# The host ranks a catch-all after every other route: what reaches it matched no route (or not its method),
# and gets a JSON 404/405 instead of the host's empty 404.
@bp.route(route="{*path}", methods=[method.value for method in func.HttpMethod])
async def unmatched_route(req: Request) -> Response:
    return await fallback.unmatched_route(req, req.path_params.get("path") or "")
