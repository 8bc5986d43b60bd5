"""The Azure Functions entry point: this app's agents, served by agentstream."""

from __future__ import annotations

import agentstream
from orchestrators.agents import assistant, editor

app = agentstream.AgentFunctionApp(agents=[assistant, editor])
