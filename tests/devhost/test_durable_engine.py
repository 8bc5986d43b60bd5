"""End-to-end tests of devhost's Durable Functions stand-in, driven through the SDK's real client over HTTP."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import aiohttp
import pytest

from devhost.durable import DurableEngine
from devhost.durable.events import EventType, parse_event_time
from tests.devhost import sample_app
from tests.devhost.harness import client_for, run, running_engine, wait_for_status, wait_until

DONE = {"Completed", "Failed", "Terminated"}


def test_activity_chain_completes_with_outputs(tmp_path: Path) -> None:
    async def body() -> None:
        async with running_engine(tmp_path / "d.db") as engine:
            client = client_for(engine)
            instance_id = await client.start_new("chain", None, "Ada")
            assert len(instance_id) == 32
            status = await wait_for_status(client, instance_id, DONE)
            assert status.runtime_status.value == "Completed"
            assert status.output == ["Hello Ada", 42]
            assert status.input_ == '"Ada"'
            assert status.name == "chain"

    run(body)


def test_fan_out_with_task_all(tmp_path: Path) -> None:
    async def body() -> None:
        async with running_engine(tmp_path / "d.db") as engine:
            client = client_for(engine)
            instance_id = await client.start_new("fan_out")
            status = await wait_for_status(client, instance_id, DONE)
            assert status.output == [2, 4, 6]
            history = engine.management.history(instance_id)
            scheduled = [e["EventId"] for e in history if e["EventType"] == EventType.TASK_SCHEDULED]
            assert scheduled == [0, 1, 2]

    run(body)


def test_retry_succeeds_after_two_failures(tmp_path: Path) -> None:
    async def body() -> None:
        async with running_engine(tmp_path / "d.db") as engine:
            client = client_for(engine)
            options = {"key": "ok", "fail_times": 2, "attempts": 3}
            instance_id = await client.start_new("with_retry", None, options)
            status = await wait_for_status(client, instance_id, DONE)
            assert status.runtime_status.value == "Completed"
            assert status.output == {"ok": True, "attempts": 3}
            kinds = [e["EventType"] for e in engine.management.history(instance_id)]
            assert kinds.count(EventType.TASK_FAILED) == 2
            assert kinds.count(EventType.TIMER_CREATED) == 2

    run(body)


def test_retry_exhausted_fails_instance(tmp_path: Path) -> None:
    async def body() -> None:
        async with running_engine(tmp_path / "d.db") as engine:
            client = client_for(engine)
            options = {"key": "never", "fail_times": 99, "attempts": 2}
            instance_id = await client.start_new("with_retry", None, options)
            status = await wait_for_status(client, instance_id, DONE)
            assert status.runtime_status.value == "Failed"
            assert status.output.startswith(
                "Orchestrator function 'with_retry' failed: "
                "Activity function 'flaky' failed: Result: Failure\nException: ValueError: flaky attempt 2\n"
                "Stack: Traceback (most recent call last):\n"
            )
            assert sample_app.ATTEMPTS["never"] == 2
            history = engine.management.history(instance_id)
            timers = [e for e in history if e["EventType"] == EventType.TIMER_CREATED]
            # One retry timer plus DTFx's zero-delay timer after the last failed attempt.
            assert len(timers) == 2
            last_episode_start = max(
                i for i, e in enumerate(history[: history.index(timers[-1])]) if e["EventType"] == 12
            )
            assert timers[-1]["FireAt"] == history[last_episode_start]["Timestamp"]

    run(body)


def test_durable_timer(tmp_path: Path) -> None:
    async def body() -> None:
        async with running_engine(tmp_path / "d.db") as engine:
            client = client_for(engine)
            instance_id = await client.start_new("sleeper")
            status = await wait_for_status(client, instance_id, DONE)
            assert status.output == "woke up"
            history = engine.management.history(instance_id)
            created = next(e for e in history if e["EventType"] == EventType.TIMER_CREATED)
            fired = next(e for e in history if e["EventType"] == EventType.TIMER_FIRED)
            assert fired["TimerId"] == created["EventId"] == 0
            assert parse_event_time(fired["Timestamp"]) >= parse_event_time(created["FireAt"])
            assert parse_event_time(created["FireAt"]) - parse_event_time(history[0]["Timestamp"]) == timedelta(
                milliseconds=100
            )

    run(body)


def test_external_event_and_custom_status(tmp_path: Path) -> None:
    async def body() -> None:
        async with running_engine(tmp_path / "d.db") as engine:
            client = client_for(engine)
            instance_id = await client.start_new("approval")
            status = await wait_for_status(client, instance_id, {"Running"})
            await wait_until(lambda: engine.management.get(instance_id).custom_status is not None)  # type: ignore[union-attr]
            status = await client.get_status(instance_id)
            assert status.custom_status == {"phase": "waiting"}
            await client.raise_event(instance_id, "approval", {"approved": True})
            status = await wait_for_status(client, instance_id, DONE)
            # The SDK double-encodes event data, so the orchestrator receives a JSON string (production behaviour).
            assert status.output == '{"approved": true}'
            assert status.custom_status == {"phase": "done"}
            with pytest.raises(Exception, match="is gone"):
                await client.raise_event(instance_id, "approval", 1)
            with pytest.raises(Exception, match="No instance"):
                await client.raise_event("nope", "approval", 1)

    run(body)


def test_event_raised_before_the_wait_is_kept(tmp_path: Path) -> None:
    async def body() -> None:
        async with running_engine(tmp_path / "d.db") as engine:
            client = client_for(engine)
            instance_id = await client.start_new("approval")
            await client.raise_event(instance_id, "approval", "early")
            status = await wait_for_status(client, instance_id, DONE)
            assert status.output == '"early"'  # double-encoded by the SDK client

    run(body)


def test_task_any_event_wins_and_timer_is_cancelled(tmp_path: Path) -> None:
    async def body() -> None:
        async with running_engine(tmp_path / "d.db") as engine:
            client = client_for(engine)
            instance_id = await client.start_new("race", None, 60_000)
            await wait_for_status(client, instance_id, {"Running"})
            await client.raise_event(instance_id, "go", "fast")
            status = await wait_for_status(client, instance_id, DONE)
            assert status.output == {"event": '"fast"'}

    run(body)


def test_task_any_timer_wins(tmp_path: Path) -> None:
    async def body() -> None:
        async with running_engine(tmp_path / "d.db") as engine:
            client = client_for(engine)
            instance_id = await client.start_new("race", None, 50)
            status = await wait_for_status(client, instance_id, DONE)
            assert status.output == "timeout"

    run(body)


def test_terminate(tmp_path: Path) -> None:
    async def body() -> None:
        async with running_engine(tmp_path / "d.db") as engine:
            client = client_for(engine)
            instance_id = await client.start_new("approval")
            await wait_for_status(client, instance_id, {"Running"})
            await client.terminate(instance_id, "no longer needed")
            status = await client.get_status(instance_id, show_history=True)
            assert status.runtime_status.value == "Terminated"
            assert status.output == "no longer needed"
            await client.terminate(instance_id, "again")  # 410 is success for the SDK
            with pytest.raises(Exception, match="No instance"):
                await client.terminate("nope", "x")

    run(body)


def test_continue_as_new(tmp_path: Path) -> None:
    async def body() -> None:
        async with running_engine(tmp_path / "d.db") as engine:
            client = client_for(engine)
            instance_id = await client.start_new("counter", None, 0)
            status = await wait_for_status(client, instance_id, DONE)
            assert status.runtime_status.value == "Completed"
            assert status.output == 3
            history = engine.management.history(instance_id)
            assert json.loads(json.loads(history[1]["Input"])) == 3

    run(body)


def test_orchestrator_exception_fails_instance(tmp_path: Path) -> None:
    async def body() -> None:
        async with running_engine(tmp_path / "d.db") as engine:
            client = client_for(engine)
            instance_id = await client.start_new("failing")
            status = await wait_for_status(client, instance_id, DONE)
            assert status.runtime_status.value == "Failed"
            assert status.output == "Orchestrator function 'failing' failed: bad thing"
            assert status.custom_status == "working"

    run(body)


def test_unsupported_and_unknown_functions(tmp_path: Path) -> None:
    async def body() -> None:
        async with running_engine(tmp_path / "d.db") as engine:
            client = client_for(engine)
            child = await client.start_new("calls_child")
            status = await wait_for_status(client, child, DONE)
            assert status.runtime_status.value == "Failed"
            assert "devhost does not support sub-orchestrations" in status.output
            missing = await client.start_new("calls_missing")
            status = await wait_for_status(client, missing, DONE)
            assert "The function 'no_such_activity' doesn't exist" in status.output
            with pytest.raises(Exception, match="The function 'nope' doesn't exist"):
                await client.start_new("nope")

    run(body)


def test_instance_ids_queries_and_purge(tmp_path: Path) -> None:
    async def body() -> None:
        async with running_engine(tmp_path / "d.db") as engine:
            client = client_for(engine)
            await client.start_new("approval", "inst-a")
            await wait_for_status(client, "inst-a", {"Running"})
            with pytest.raises(Exception, match="already exists"):
                await client.start_new("approval", "inst-a")
            await client.start_new("chain", "inst-b", "Bo")
            await wait_for_status(client, "inst-b", DONE)
            # A finished instance may be replaced by a new one with the same id.
            await client.start_new("chain", "inst-b", "Cy")
            status = await wait_for_status(client, "inst-b", DONE)
            assert status.output == ["Hello Cy", 42]
            everything = await client.get_status_all()
            assert {s.instance_id for s in everything} == {"inst-a", "inst-b"}
            running = await client.get_status_by(runtime_status=[status.runtime_status.__class__("Running")])
            assert [s.instance_id for s in running] == ["inst-a"]
            prefixed = await client.get_status_by(instance_id_prefix="inst-b")
            assert [s.instance_id for s in prefixed] == ["inst-b"]
            assert (await client.purge_instance_history("inst-b")).instances_deleted == 1
            assert (await client.purge_instance_history("inst-b")).instances_deleted == 0
            assert not await client.get_status("inst-b")

    run(body)


def test_webhook_api_requires_system_key(tmp_path: Path) -> None:
    async def body() -> None:
        async with running_engine(tmp_path / "d.db") as engine:
            binding = json.loads(engine.client_binding())
            assert binding["rpcBaseUrl"] == f"{engine.base_url}/durabletask/{engine.system_key}/"
            payload = client_for(engine).create_http_management_payload("abc")
            start_url = f"{engine.base_url}/runtime/webhooks/durabletask/orchestrators/chain/abc"
            async with aiohttp.ClientSession() as session:
                async with session.post(start_url, json=json.dumps("Di")) as response:
                    assert response.status == 401
                async with session.post(f"{start_url}?code={engine.system_key}", json=json.dumps("Di")) as response:
                    assert response.status == 202
                    assert (await response.json())["statusQueryGetUri"] == payload["statusQueryGetUri"]
                await wait_until(lambda: engine.management.get("abc").status == "Completed")  # type: ignore[union-attr]
                async with session.get(payload["statusQueryGetUri"]) as response:
                    assert response.status == 200
                    assert (await response.json())["output"] == ["Hello Di", 42]
                async with session.get(f"{engine.base_url}/durabletask/instances/abc") as response:
                    assert response.status == 401
                    assert (await response.json())["error"]["code"] == "unauthorized"
                async with session.get(f"{binding['rpcBaseUrl']}entities/x/y") as response:
                    assert response.status == 404
                    assert await response.read() == b""

    run(body)


def test_engine_exposes_binding_for_dfapp(tmp_path: Path) -> None:
    engine = DurableEngine([], db_path=tmp_path / "d.db", base_url="http://127.0.0.1:7071/", system_key="k")
    binding = json.loads(engine.client_binding())
    assert binding["managementUrls"]["id"] == "INSTANCEID"
    assert binding["managementUrls"]["statusQueryGetUri"] == (
        "http://127.0.0.1:7071/runtime/webhooks/durabletask/instances/INSTANCEID?taskHub=agentstream"
        "&connection=Storage&code=k"
    )
    assert binding["rpcBaseUrl"] == "http://127.0.0.1:7071/durabletask/k/"


def test_suspend_buffers_events_until_resume(tmp_path: Path) -> None:
    async def body() -> None:
        async with running_engine(tmp_path / "d.db") as engine:
            client = client_for(engine)
            instance_id = await client.start_new("approval")
            await wait_for_status(client, instance_id, {"Running"})
            await client.suspend(instance_id, "pause")
            await client.raise_event(instance_id, "approval", "later")
            await engine.wait_for_idle()
            assert (await client.get_status(instance_id)).runtime_status.value == "Suspended"
            await client.resume(instance_id, "go on")
            status = await wait_for_status(client, instance_id, DONE)
            assert status.output == '"later"'

    run(body)
