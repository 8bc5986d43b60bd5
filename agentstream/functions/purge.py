"""The retention purge as a timer trigger, on PURGE_SCHEDULE (read when the app is indexed).

It first sweeps the active runs for any left without a live orchestration (`reconcile.py`), which
also catches threads nobody reads or continues any more.
"""

from __future__ import annotations

import datetime as dt

import azure.durable_functions as df
import azure.functions as func
from azure.durable_functions.models.OrchestrationRuntimeStatus import OrchestrationRuntimeStatus

from agentstream import retention, runtime
from agentstream.agent import reconcile
from agentstream.config import get_settings, read_purge_schedule
from agentstream.functions.instances import orchestration_status
from agentstream.functions.orchestration import run_instance_id

bp = df.Blueprint()

FINISHED = [
    OrchestrationRuntimeStatus.Completed,
    OrchestrationRuntimeStatus.Failed,
    OrchestrationRuntimeStatus.Terminated,
]
# The sweep's lower bound: the extension requires one.
EPOCH = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)


@bp.timer_trigger(schedule=read_purge_schedule(), arg_name="timer", run_on_startup=False)
@bp.durable_client_input(client_name="client")
async def purge_expired_threads(timer: func.TimerRequest, client: df.DurableOrchestrationClient) -> None:
    async def purge_history(thread_id: str, run_id: str) -> None:
        await client.purge_instance_history(run_instance_id(thread_id, run_id))

    async def sweep_finished_histories(created_before: dt.datetime) -> int:
        result = await client.purge_instance_history_by(EPOCH, created_before, FINISHED)
        return int(result.instances_deleted)

    await reconcile.reconcile_active_runs(runtime.get_store(), orchestration_status(client))
    await retention.purge_idle_threads(
        runtime.get_store(), get_settings().event_retention, purge_history, sweep_finished_histories
    )
