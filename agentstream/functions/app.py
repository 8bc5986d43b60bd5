"""`AgentFunctionApp`: a Durable Functions app serving agents, with every route, the orchestration
and the activities registered.

```python
app = agentstream.AgentFunctionApp(agents=[support, triage])
```

It is a `df.DFApp`: register your own functions and blueprints on it as on any other.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import azure.durable_functions as df
import azure.functions as func

from .. import runtime, telemetry
from ..agent.agents import Agent, Agents
from ..config import TelemetrySettings
from . import orchestration, purge, routes


class AgentFunctionApp(df.DFApp):  # type: ignore[misc]  # the SDK is untyped
    """A function app for `agents`; the first serves the unnamed routes (`/api/agent/run`, ...).

    Other keyword arguments go to `df.DFApp`. HTTP triggers are anonymous at the host unless
    API_AUTH=function_key (see `agentstream.functions.auth`).
    """

    def __init__(
        self,
        agents: Iterable[Agent],
        *,
        http_auth_level: func.AuthLevel | str = func.AuthLevel.ANONYMOUS,
        **options: Any,
    ) -> None:
        super().__init__(http_auth_level=http_auth_level, **options)
        self.agents = Agents(agents)
        runtime.use_agents(self.agents)
        telemetry.configure(TelemetrySettings.from_env())
        self.register_functions(routes.bp)
        self.register_functions(orchestration.bp)
        self.register_functions(purge.bp)
