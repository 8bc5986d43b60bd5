"""A small function app for devhost's own tests: timer triggers and HTTP routes of every auth level."""

from __future__ import annotations

import azure.functions as func
from azurefunctions.extensions.http.fastapi import JSONResponse, Request, Response

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)
fired: list[bool] = []
yearly_fired: list[bool] = []


@app.timer_trigger(schedule="*/1 * * * * *", arg_name="timer", run_on_startup=False)
def every_second(timer: func.TimerRequest) -> None:
    fired.append(timer.past_due)


@app.timer_trigger(schedule="0 0 0 1 1 *", arg_name="timer", run_on_startup=False)
def yearly(timer: func.TimerRequest) -> None:
    yearly_fired.append(timer.past_due)


@app.route(route="health", methods=["GET"])
async def health(req: Request) -> Response:
    return JSONResponse({"fired": len(fired), "yearly": len(yearly_fired)})


@app.route(route="keyed", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
async def keyed(req: Request) -> Response:
    return JSONResponse({"level": "function"})


@app.route(route="admin-only", methods=["GET"], auth_level=func.AuthLevel.ADMIN)
async def admin_only(req: Request) -> Response:
    return JSONResponse({"level": "admin"})


@app.route(route="files/{*rest}", methods=["GET"])
async def files(req: Request) -> Response:
    return JSONResponse({"rest": req.path_params["rest"]})


@app.route(route="echo/{name}/{count:int}", methods=["GET", "POST"])
async def echo(req: Request) -> Response:
    return JSONResponse(
        {
            "name": req.path_params["name"],
            "count": req.path_params["count"],
            "request": f"{type(req).__module__}.{type(req).__name__}",
            "query": dict(req.query_params),
            "body": (await req.body()).decode(),
        }
    )
