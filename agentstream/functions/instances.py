"""A run's durable instance through the Durable client: its id, starting it, signalling its
cancel, and its state (for reconciliation)."""

from __future__ import annotations

from typing import Any

import azure.durable_functions as df
from azure.durable_functions.models.OrchestrationRuntimeStatus import OrchestrationRuntimeStatus

from agentstream.agent.reconcile import OrchestrationStarter, OrchestrationState, OrchestrationStatus, RunSignal

CANCEL_EVENT = "cancel"
INSTANCE_ID_SEPARATOR = ":"

# Suspended counts as live: an operator may resume it, and then it finishes the run itself.
LIVE = frozenset(
    {
        OrchestrationRuntimeStatus.Pending,
        OrchestrationRuntimeStatus.Running,
        OrchestrationRuntimeStatus.ContinuedAsNew,
        OrchestrationRuntimeStatus.Suspended,
    }
)


def run_instance_id(thread_id: str, run_id: str) -> str:
    """The durable instance id of a run: scoped by its thread, since clients may choose run ids.

    Ids are [A-Za-z0-9_-], so ':' cannot occur in either part; Durable allows it in instance ids
    and it needs no escaping in the management URLs.
    """
    return f"{thread_id}{INSTANCE_ID_SEPARATOR}{run_id}"


def orchestration_starter(client: df.DurableOrchestrationClient) -> OrchestrationStarter:
    async def start_orchestration(run: dict[str, Any]) -> None:
        await client.start_new("agent_run", run_instance_id(run["thread_id"], run["run_id"]), run)

    return start_orchestration


def cancel_signal(client: df.DurableOrchestrationClient) -> RunSignal:
    async def signal_cancel(thread_id: str, run_id: str) -> None:
        await client.raise_event(run_instance_id(thread_id, run_id), CANCEL_EVENT)

    return signal_cancel


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
