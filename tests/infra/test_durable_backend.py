"""The durable backend: host.json tuned for dispatch latency on Azure Storage, and the Durable Task
Scheduler as an opt-in backend, each parameter value followed through the Bicep to what it deploys."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any

import pytest

from tests.infra.bicep import (
    INFRA,
    ROOT,
    Unresolved,
    decorator,
    deployed_app_settings,
    deployed_modules,
    only_resource,
    parse,
    resources_of_type,
)

REQUIRED = {"environmentName": "dev", "location": "westus3", "streamTokenSecret": "s" * 32}
SCHEDULER = {**REQUIRED, "durableBackend": "durableTaskScheduler"}
DURABLE_TASK_DATA_CONTRIBUTOR = "0ad04412-c4d5-4796-b79c-f76d14c8d402"
DURABLE_TASK_DATA_READER = "d6a5505f-6ebb-45a4-896e-ac8274cfc0ac"
HOST_OVERRIDE = "AzureFunctionsJobHost__extensions__durableTask__storageProvider__"
# The most messages one Get Messages call of the Queue service returns.
QUEUE_SERVICE_MAX_BATCH = 32


def durable_task() -> dict[str, Any]:
    config: dict[str, Any] = json.loads((ROOT / "host.json").read_text())["extensions"]["durableTask"]
    return config


def timespan(value: str) -> timedelta:
    hours, minutes, seconds = value.split(":")
    return timedelta(hours=int(hours), minutes=int(minutes), seconds=float(seconds))


def idle_queue_reads_per_hour() -> int:
    """Get Messages calls of one idle instance holding every partition: each control queue and the
    work-item queue, once per maxQueuePollingInterval once the back-off has reached it."""
    provider = durable_task()["storageProvider"]
    interval = timespan(provider["maxQueuePollingInterval"]).total_seconds()
    return round((provider["partitionCount"] + 1) * 3600 / interval)


def test_host_json_keeps_azure_storage_and_polls_idle_queues_at_most_every_two_seconds():
    durable = durable_task()
    assert durable["hubName"] == "%TASK_HUB_NAME%"
    provider = durable["storageProvider"]
    # No type: Azure Storage, the backend every deployment gets unless it opts into the scheduler.
    assert "type" not in provider and "connectionStringName" not in provider
    # The extension's default is 30 s, which an idle app would add to a run's time to first token.
    assert timedelta(0) < timespan(provider["maxQueuePollingInterval"]) <= timedelta(seconds=2)
    assert provider["controlQueueBatchSize"] == QUEUE_SERVICE_MAX_BATCH
    assert 1 <= provider["partitionCount"] <= 16


def test_concurrency_per_instance_leaves_room_for_streaming_model_steps():
    durable = durable_task()
    http_concurrency = parse("main.bicep")["parameters"]["httpPerInstanceConcurrency"]["default"]
    # A model step is an async activity holding its slot for the whole answer; the extension's
    # default of 10 per core would queue the eleventh run behind the others.
    for setting in ("maxConcurrentActivityFunctions", "maxConcurrentOrchestratorFunctions"):
        assert 10 < durable[setting] <= http_concurrency, setting


def test_the_docs_state_the_values_in_host_json_and_the_idle_polling_cost_they_give():
    docs = (ROOT / "docs" / "durable-backend.md").read_text()
    section = docs[docs.index("## Azure Storage") : docs.index("## The Durable Task Scheduler")]
    documented = dict(re.findall(r"^\| `(\w+)` \| `([^`]+)`", section, flags=re.MULTILINE))
    durable = durable_task()
    in_host_json = {**durable["storageProvider"], **{k: v for k, v in durable.items() if k.startswith("max")}}
    assert documented == {name: json.dumps(value) for name, value in in_host_json.items()}
    assert f"{idle_queue_reads_per_hour():,} queue transactions per hour" in section


def test_durable_backend_parameter_defaults_to_azure_storage_and_azd_can_set_it():
    parameters = parse("main.bicep")["parameters"]
    backend = parameters["durableBackend"]
    assert backend["default"] == "azureStorage"
    assert decorator(backend, "allowed") == ["azureStorage", "durableTaskScheduler"]
    assert decorator(parameters["durableTaskSchedulerSku"], "allowed") == ["Consumption", "Dedicated"]
    assert parameters["durableTaskSchedulerSku"]["default"] == "Consumption"
    values = json.loads((INFRA / "main.parameters.json").read_text())["parameters"]
    assert values["durableBackend"] == {"value": "${DURABLE_BACKEND=azureStorage}"}
    assert values["durableTaskSchedulerSku"] == {"value": "${DURABLE_TASK_SCHEDULER_SKU=Consumption}"}
    assert values["principalId"] == {"value": "${AZURE_PRINCIPAL_ID}"}


def test_azure_storage_backend_deploys_no_scheduler_and_no_scheduler_settings():
    for given in (REQUIRED, {**REQUIRED, "durableBackend": "azureStorage"}):
        modules = deployed_modules(given)
        assert "durableTask" not in modules
        assert modules["rbac"]["durableTaskSchedulerName"] == ""
        settings = deployed_app_settings(given)
        assert settings["TASK_HUB_NAME"] == "agentstream"
        assert "DURABLE_TASK_SCHEDULER_CONNECTION_STRING" not in settings
        assert not [name for name in settings if name.startswith("AzureFunctionsJobHost__")]
        # The task hub lives in the host's storage account, reached with the identity.
        assert settings["AzureWebJobsStorage__queueServiceUri"] == "storage.properties.primaryEndpoints.queue"


def test_scheduler_backend_deploys_a_scheduler_with_the_apps_task_hub():
    modules = deployed_modules(SCHEDULER)
    scheduler = modules["durableTask"]
    assert scheduler["taskHubName"] == modules["api"]["taskHubName"] == "agentstream"
    assert (scheduler["skuName"], scheduler["skuCapacity"]) == ("Consumption", 1)
    assert scheduler["dashboardPrincipalId"] == ""
    assert modules["rbac"]["durableTaskSchedulerName"] == "durableTask.outputs.name"
    assert modules["api"]["durableTaskSchedulerEndpoint"] == "durableTask.outputs.endpoint"
    dedicated = deployed_modules({**SCHEDULER, "durableTaskSchedulerSku": "Dedicated", "principalId": "user-1"})
    assert dedicated["durableTask"]["skuName"] == "Dedicated"
    assert dedicated["durableTask"]["dashboardPrincipalId"] == "user-1"


def test_scheduler_module_declares_scheduler_task_hub_and_open_allowlist():
    scheduler = only_resource("core/durabletask.bicep", "Microsoft.DurableTask/schedulers")
    api_version = parse("core/durabletask.bicep")["resources"]["scheduler"]["api_version"]
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", api_version)
    # An empty allowlist refuses every caller, and Flex Consumption has no fixed outbound address.
    assert scheduler["properties"]["ipAllowlist"] == ["0.0.0.0/0"]
    sku = scheduler["properties"]["sku"]["operator"]["operands"]
    assert sku["condition"] == "isDedicated"
    assert sku["true_value"] == {"name": "skuName", "capacity": "skuCapacity"}
    assert sku["false_value"] == {"name": "skuName"}
    hub = only_resource("core/durabletask.bicep", "Microsoft.DurableTask/schedulers/taskHubs")
    assert hub == {"parent": "scheduler", "name": "taskHubName"}
    outputs = parse("core/durabletask.bicep")["outputs"]
    assert set(outputs) == {"name", "endpoint", "taskHubName"}


def test_scheduler_backend_connects_with_the_managed_identity_and_switches_host_json():
    settings = deployed_app_settings(SCHEDULER)
    connection = settings["DURABLE_TASK_SCHEDULER_CONNECTION_STRING"]
    assert connection == (
        "Endpoint=durableTask.outputs.endpoint;Authentication=ManagedIdentity;ClientID=identity.outputs.clientId"
    )
    assert settings["AZURE_CLIENT_ID"] == "identity.outputs.clientId"
    assert settings[f"{HOST_OVERRIDE}type"] == "azureManaged"
    assert settings[f"{HOST_OVERRIDE}connectionStringName"] == "DURABLE_TASK_SCHEDULER_CONNECTION_STRING"
    assert settings["TASK_HUB_NAME"] == "agentstream"
    # Everything else is what the Azure Storage backend gets.
    default = deployed_app_settings(REQUIRED)
    assert set(settings) - set(default) == {
        "DURABLE_TASK_SCHEDULER_CONNECTION_STRING",
        f"{HOST_OVERRIDE}type",
        f"{HOST_OVERRIDE}connectionStringName",
    }
    assert {name: settings[name] for name in default} == default


def test_identity_gets_durable_task_data_contributor_on_the_scheduler_only_when_it_is_deployed():
    assignment = resources_of_type("app/rbac.bicep", "Microsoft.Authorization/roleAssignments")[
        "durableTaskContributor"
    ]
    declared = parse("app/rbac.bicep")["resources"]["durableTaskContributor"]["config"]
    assert declared["condition"]["operator"]["type"] == "not"
    assert assignment["scope"] == "scheduler"
    assert assignment["properties"]["principalType"] == "ServicePrincipal"
    roles = parse("app/rbac.bicep")["variables"]["roles"]["value"]
    assert roles["durableTaskDataContributor"] == DURABLE_TASK_DATA_CONTRIBUTOR
    scheduler = parse("app/rbac.bicep")["resources"]["scheduler"]
    assert scheduler["type"] == "Microsoft.DurableTask/schedulers" and scheduler["existing"]


def test_the_azd_user_gets_dashboard_read_access_only_when_named():
    assignment = resources_of_type("core/durabletask.bicep", "Microsoft.Authorization/roleAssignments")
    reader = assignment["dashboardReader"]
    assert reader["scope"] == "scheduler"
    assert reader["properties"]["principalId"] == "dashboardPrincipalId"
    assert parse("core/durabletask.bicep")["variables"]["durableTaskDataReader"]["value"] == DURABLE_TASK_DATA_READER
    condition = parse("core/durabletask.bicep")["resources"]["dashboardReader"]["config"]["condition"]
    assert condition["operator"]["operands"]["bool_value"]["function"]["parameters"] == {
        "item_to_test": "dashboardPrincipalId"
    }


@pytest.mark.parametrize("durable_backend", ["azureStorage", "durableTaskScheduler"])
def test_every_module_output_main_reads_exists_for_both_backends(durable_backend):
    for symbol, params in deployed_modules({**REQUIRED, "durableBackend": durable_backend}).items():
        for value in params.values():
            if isinstance(value, Unresolved) and ".outputs." in value:
                module, output = value.split(".outputs.")
                path = parse("main.bicep")["modules"][module]["detail"]["path"]
                assert output in parse(path)["outputs"], (symbol, value)
