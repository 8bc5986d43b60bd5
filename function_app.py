"""The Azure Functions entry point.

Importing `azurefunctions.extensions.http.fastapi` (done by api.routes) switches the app to HTTP
streams mode: every HTTP trigger takes a FastAPI request and returns a FastAPI response, so the
SSE stream leaves the worker chunk by chunk instead of as one buffered body.
"""

from __future__ import annotations

import azure.durable_functions as df
import azure.functions as func

from agentstream import telemetry
from agentstream.config import TelemetrySettings
from api.routes import bp as api_routes
from maintenance.purge import bp as maintenance
from orchestrators.agent import bp as agent_orchestration

telemetry.configure(TelemetrySettings.from_env())

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)
app.register_functions(api_routes)
app.register_functions(agent_orchestration)
app.register_functions(maintenance)
