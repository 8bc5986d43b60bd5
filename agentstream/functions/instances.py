"""The state of a run's durable instance, read through the Durable client, for reconciliation."""

from __future__ import annotations

import azure.durable_functions as df
from azure.durable_functions.models.OrchestrationRuntimeStatus import OrchestrationRuntimeStatus

from agentstream.agent.reconcile import OrchestrationState, OrchestrationStatus
from agentstream.functions.orchestration import run_instance_id

# Suspended counts as live: an operator may resume it, and then it finishes the run itself.
LIVE = frozenset(
    {
        OrchestrationRuntimeStatus.Pending,
        OrchestrationRuntimeStatus.Running,
        OrchestrationRuntimeStatus.ContinuedAsNew,
        OrchestrationRuntimeStatus.Suspended,
    }
)


def orchestration_status(client: df.DurableOrchestrationClient) -> OrchestrationStatus:
    """The callback the core asks for the state of the orchestration of (thread id, run id)."""

    async def status(thread_id: str, run_id: str) -> OrchestrationState:
        found = await client.get_status(run_instance_id(thread_id, run_id))
        if found:
            return OrchestrationState.LIVE if found.runtime_status in LIVE else OrchestrationState.ENDED
        # The SDK turns every answer into a status object. A 404 has an empty body, which it keeps
        # as `message == ""`; an error (400/500) carries the extension's error fields instead, and
        # must not pass for a missing instance.
        if getattr(found, "message", None) == "":
            return OrchestrationState.MISSING
        raise RuntimeError(f"The Durable status API gave no status for run {run_id}: {vars(found)}")

    return status
