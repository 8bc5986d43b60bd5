"""The Azure Functions entry point."""

from __future__ import annotations

import azure.durable_functions as df
import azure.functions as func

from agentstream import telemetry
from agentstream.config import TelemetrySettings
from agentstream.functions.orchestration import bp as agent_orchestration
from agentstream.functions.purge import bp as maintenance
from agentstream.functions.routes import bp as api_routes

telemetry.configure(TelemetrySettings.from_env())

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)
app.register_functions(api_routes)
app.register_functions(agent_orchestration)
app.register_functions(maintenance)
