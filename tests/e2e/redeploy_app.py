"""The function app, and with `REDEPLOYED=1` its next release: one that moderates each run in an activity before
the agent's first model step. Instances started by the first release replay under the second one's code."""

# mypy: allow-untyped-decorators

from __future__ import annotations

import os
from collections.abc import Generator
from typing import Any

import azure.durable_functions as df

from agentstream.functions import orchestration
from function_app import app

if os.environ.get("REDEPLOYED") == "1":
    bp = df.Blueprint()

    @bp.activity_trigger(input_name="run")
    def moderate(run: dict) -> bool:
        return True

    [builder] = [b for b in orchestration.bp._function_builders if b._function.get_function_name() == "agent_run"]
    first_release = builder._function.get_user_function()

    def moderated_agent_run(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
        yield context.call_activity("moderate", context.get_input())
        return (yield from first_release.orchestrator_function(context))

    second_release = df.Orchestrator.create(moderated_agent_run)
    second_release._df_input_type = getattr(first_release, "_df_input_type", None)
    builder._function._func = second_release
    app.register_functions(bp)
