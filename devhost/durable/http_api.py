"""The extension's HTTP API: the RPC flavour the SDK client calls (``/durabletask/``) and the public webhook
flavour (``/runtime/webhooks/durabletask/``). Every body is JSON or empty because the SDK parses all responses
with ``response.json(content_type=None)``.

Both flavours need the system key or the master key (``?code=`` or ``x-functions-key``), as the host's
webhook flavour does. The host serves the RPC flavour on a port only the worker on the same
machine reaches; devhost serves everything on one port, so its RPC flavour takes the same keys, and the
``rpcBaseUrl`` it hands the app carries the system key as a path segment (the SDK appends paths to that URL and
adds no query string or header of its own).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route

from .binding import RPC_PREFIX, WEBHOOK_PREFIX, management_urls, rpc_path
from .events import compact_json
from .management import Outcome, Query, StartError
from .status import RUNNING_STATES, status_payload

if TYPE_CHECKING:
    from .engine import DurableEngine

Handler = Callable[[Request], Awaitable[Response]]

_ALL_METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"]
_SERVER_ERROR = "An error has occurred."
_BAD_REQUEST = "One or more of the arguments submitted is incorrect"
_OUTCOME_STATUS = {Outcome.ACCEPTED: 202, Outcome.GONE: 410, Outcome.MISSING: 404}


def _empty(status: int) -> Response:
    return Response(status_code=status)


def _error(status: int, message: str, exception_type: str) -> JSONResponse:
    # Shape of the extension's HttpRequestMessageExtensions error payload.
    return JSONResponse(
        {
            "Message": _SERVER_ERROR if status >= 500 else _BAD_REQUEST,
            "ExceptionMessage": message,
            "ExceptionType": exception_type,
            "StackTrace": None,
        },
        status_code=status,
    )


def _flag(request: Request, name: str, default: bool) -> bool:
    value = request.query_params.get(name)
    return default if value is None else value.strip().lower() == "true"


def _time(value: str | None) -> datetime | None:
    if not value:
        return None
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _query(request: Request) -> Query:
    statuses = request.query_params.get("runtimeStatus") or ""
    return Query(
        created_from=_time(request.query_params.get("createdTimeFrom")),
        created_to=_time(request.query_params.get("createdTimeTo")),
        statuses=frozenset(s.strip() for s in statuses.split(",") if s.strip()),
        prefix=request.query_params.get("instanceIdPrefix") or "",
    )


class _Api:
    def __init__(self, engine: DurableEngine) -> None:
        self._engine = engine
        self._mgmt = engine.management

    def _check_status_response(self, instance_id: str) -> JSONResponse:
        urls = management_urls(self._engine.base_url, self._engine.task_hub, self._engine.system_key, instance_id)
        urls.pop("rewindPostUri")
        return JSONResponse(urls, status_code=202, headers={"Location": urls["statusQueryGetUri"], "Retry-After": "10"})

    async def start(self, request: Request) -> Response:
        body = (await request.body()).decode()
        input_text = body or None
        if input_text is not None:
            try:
                json.loads(input_text)
            except ValueError:
                return _error(400, "The request body must be JSON.", "System.ArgumentException")
        try:
            row = self._mgmt.start(request.path_params["name"], request.path_params.get("instance_id"), input_text)
        except StartError as exc:
            return _error(400 if exc.bad_request else 500, str(exc), exc.exception_type)
        return self._check_status_response(row.instance_id)

    async def get_status(self, request: Request) -> Response:
        instance_id = request.path_params["instance_id"]
        row = self._mgmt.get(instance_id)
        if row is None:
            return _empty(404)
        history = self._mgmt.history(instance_id) if _flag(request, "showHistory", False) else None
        payload = status_payload(
            row,
            show_input=_flag(request, "showInput", True),
            history=history,
            show_history_output=_flag(request, "showHistoryOutput", False),
        )
        if row.status in RUNNING_STATES:
            location = management_urls(
                self._engine.base_url, self._engine.task_hub, self._engine.system_key, instance_id
            )["statusQueryGetUri"]
            return JSONResponse(payload, status_code=202, headers={"Location": location, "Retry-After": "5"})
        failed_as_500 = row.status == "Failed" and _flag(request, "returnInternalServerErrorOnFailure", False)
        return JSONResponse(payload, status_code=500 if failed_as_500 else 200)

    async def list_status(self, request: Request) -> Response:
        show_input = _flag(request, "showInput", True)
        rows = self._mgmt.query(_query(request))
        return JSONResponse([status_payload(row, show_input=show_input) for row in rows])

    async def purge(self, request: Request) -> Response:
        if not self._mgmt.purge(request.path_params["instance_id"]):
            return _empty(404)
        return JSONResponse({"instancesDeleted": 1})

    async def purge_many(self, request: Request) -> Response:
        query = _query(request)
        if query.created_from is None:
            return _error(400, "createdTimeFrom is required.", "System.ArgumentException")
        deleted = self._mgmt.purge_many(query)
        return JSONResponse({"instancesDeleted": deleted}) if deleted else _empty(404)

    async def raise_event(self, request: Request) -> Response:
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type != "application/json":
            return _empty(400)
        body = (await request.body()).decode()
        try:
            # The extension re-serializes the body compactly; the SDK double-encodes, so this stays a JSON string.
            input_text = compact_json(json.loads(body)) if body else None
        except ValueError:
            return _empty(400)
        outcome = self._mgmt.raise_event(request.path_params["instance_id"], request.path_params["event"], input_text)
        return _empty(_OUTCOME_STATUS[outcome])

    async def terminate(self, request: Request) -> Response:
        reason = request.query_params.get("reason") or ""
        return _empty(_OUTCOME_STATUS[self._mgmt.terminate(request.path_params["instance_id"], reason)])

    async def suspend(self, request: Request) -> Response:
        return _empty(_OUTCOME_STATUS[self._mgmt.suspend(request.path_params["instance_id"])])

    async def resume(self, request: Request) -> Response:
        return _empty(_OUTCOME_STATUS[self._mgmt.resume(request.path_params["instance_id"])])

    async def restart(self, request: Request) -> Response:
        try:
            row = self._mgmt.restart(
                request.path_params["instance_id"], _flag(request, "restartWithNewInstanceId", True)
            )
        except StartError as exc:
            return _error(400 if exc.bad_request else 500, str(exc), exc.exception_type)
        return _empty(404) if row is None else self._check_status_response(row.instance_id)

    async def rewind(self, request: Request) -> Response:
        return _error(400, "devhost does not support rewind.", "System.NotSupportedException")

    async def not_found(self, request: Request) -> Response:
        return _empty(404)

    def routes(self, wrap: Callable[[Handler], Handler]) -> list[BaseRoute]:
        instance = "/instances/{instance_id}"
        table: list[tuple[str, Handler, list[str]]] = [
            ("/orchestrators/{name}", self.start, ["POST"]),
            ("/orchestrators/{name}/{instance_id}", self.start, ["POST"]),
            ("/instances", self.list_status, ["GET"]),
            ("/instances/", self.list_status, ["GET"]),
            ("/instances", self.purge_many, ["DELETE"]),
            ("/instances/", self.purge_many, ["DELETE"]),
            (instance, self.get_status, ["GET"]),
            (instance, self.purge, ["DELETE"]),
            (instance + "/raiseEvent/{event}", self.raise_event, ["POST"]),
            (instance + "/terminate", self.terminate, ["POST"]),
            (instance + "/suspend", self.suspend, ["POST"]),
            (instance + "/resume", self.resume, ["POST"]),
            (instance + "/restart", self.restart, ["POST"]),
            (instance + "/rewind", self.rewind, ["POST"]),
            # Anything else answers 404 with an empty body, never Starlette's plain-text 404/405.
            ("/{path:path}", self.not_found, _ALL_METHODS),
        ]
        return [Route(path, wrap(handler), methods=methods) for path, handler, methods in table]


def build_routes(engine: DurableEngine) -> list[BaseRoute]:
    api = _Api(engine)

    def open_access(handler: Handler) -> Handler:
        return handler

    accepted_keys = [key.encode() for key in (engine.system_key, engine.master_key) if key]

    def key_required(handler: Handler) -> Handler:
        async def guarded(request: Request) -> Response:
            key = (request.query_params.get("code") or request.headers.get("x-functions-key") or "").encode()
            if not any(secrets.compare_digest(key, accepted) for accepted in accepted_keys):
                return JSONResponse(
                    {
                        "error": {
                            "code": "unauthorized",
                            "message": "The Durable Functions API needs the system key or the master key "
                            "(?code= or the x-functions-key header).",
                        }
                    },
                    status_code=401,
                )
            return await handler(request)

        return guarded

    return [
        Mount(rpc_path(engine.system_key), routes=api.routes(open_access)),
        Mount(RPC_PREFIX, routes=api.routes(key_required)),
        Mount(WEBHOOK_PREFIX, routes=api.routes(key_required)),
    ]
