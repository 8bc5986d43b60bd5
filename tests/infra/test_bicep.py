"""The Bicep deploys what the app needs on Flex Consumption, checked statically (no Azure here)."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest

from tests.infra.bicep import (
    BICEP_FILES,
    INFRA,
    ROOT,
    app_settings,
    decorator,
    dotted,
    module_references,
    only_resource,
    parse,
    resources_of_type,
    unconditional,
)

ROLE_IDS = {
    "b7e6dc6d-f1e8-4753-8033-0f276bb0955b": ("Storage Blob Data Owner", "storage"),
    "974c5e8b-45b9-4653-ba55-5f855dd0fb88": ("Storage Queue Data Contributor", "storage"),
    "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3": ("Storage Table Data Contributor", "storage"),
    "3913510d-42f4-4e42-8a64-420c390055eb": ("Monitoring Metrics Publisher", "applicationInsights"),
    "4633458b-17de-408a-b874-0445c86b69e6": ("Key Vault Secrets User", "vault"),
    "5e0bd9bd-7b93-4f28-af87-19fc36ad61bd": ("Cognitive Services OpenAI User", "openAi"),
    "0ad04412-c4d5-4796-b79c-f76d14c8d402": ("Durable Task Data Contributor", "scheduler"),
}
AZURE_RESPONSE_LIMIT_SECONDS = 230


def single(values: list[object]) -> object:
    assert len(values) == 1, values
    return values[0]


@pytest.mark.parametrize("path", BICEP_FILES, ids=lambda p: str(p.relative_to(INFRA)))
def test_every_bicep_file_parses(path):
    assert parse(str(path.relative_to(INFRA)))


def test_main_deploys_at_subscription_scope_and_outputs_what_azd_needs():
    main = parse("main.bicep")
    assert main["globals"]["scope"]["value"] == "subscription"
    assert {"AZURE_LOCATION", "AZURE_TENANT_ID", "AZURE_FUNCTION_NAME", "AZURE_FUNCTION_URL"} <= set(main["outputs"])
    assert dotted(main["outputs"]["AZURE_FUNCTION_URL"]["value"]) == "api.outputs.url"
    assert parse("app/api.bicep")["outputs"]["url"]["value"] == "https://${site.properties.defaultHostName}"


def test_module_calls_match_the_modules_parameters_and_outputs():
    main = parse("main.bicep")
    assert {"api", "rbac", "storage"} <= set(main["modules"]), set(main["modules"])
    for symbol, module in main["modules"].items():
        path = module["detail"]["path"]
        declared = parse(path).get("parameters", {})
        passed = set(unconditional(module["config"])["params"])
        assert passed <= set(declared), f"{symbol}: unknown params {passed - set(declared)}"
        required = {name for name, p in declared.items() if p.get("default") is None}
        assert required <= passed, f"{symbol}: missing params {required - passed}"
    references = module_references("main.bicep")
    assert ("api", "url") in references, references
    for symbol, output in references:
        path = main["modules"][symbol]["detail"]["path"]
        assert output in parse(path)["outputs"], f"{symbol}.outputs.{output} is not an output of {path}"


def test_parameters_file_feeds_every_required_parameter_from_the_azd_environment():
    declared = parse("main.bicep")["parameters"]
    values = json.loads((INFRA / "main.parameters.json").read_text())["parameters"]
    assert set(values) <= set(declared)
    required = {name for name, p in declared.items() if p.get("default") is None}
    assert required == {"environmentName", "location", "streamTokenSecret"}
    for name in required:
        assert re.fullmatch(r"\$\{[A-Z_]+\}", values[name]["value"]), name


def test_stream_token_secret_is_a_secure_generated_parameter_kept_in_key_vault():
    parameter = parse("main.bicep")["parameters"]["streamTokenSecret"]
    assert decorator(parameter, "secure") and parameter["default"] is None
    assert decorator(parameter, "min_length") >= 32
    assert decorator(parse("core/keyvault.bicep")["parameters"]["streamTokenSecret"], "secure")
    secret = only_resource("core/keyvault.bicep", "Microsoft.KeyVault/vaults/secrets")
    assert secret["properties"]["value"] == "streamTokenSecret"
    vault = only_resource("core/keyvault.bicep", "Microsoft.KeyVault/vaults")
    assert vault["properties"]["enableRbacAuthorization"] is True
    assert single(app_settings()["STREAM_TOKEN_SECRET"]) == "@Microsoft.KeyVault(SecretUri=${streamTokenSecretUri})"
    site = only_resource("app/api.bicep", "Microsoft.Web/sites")
    assert site["properties"]["keyVaultReferenceIdentity"] == "identityId"


def test_flex_consumption_plan_and_python_function_app():
    plan = only_resource("app/api.bicep", "Microsoft.Web/serverfarms")
    assert plan["sku"] == {"name": "FC1", "tier": "FlexConsumption"}
    assert plan["properties"]["reserved"] is True
    site = only_resource("app/api.bicep", "Microsoft.Web/sites")
    assert site["kind"] == "functionapp,linux"
    assert site["properties"]["httpsOnly"] is True
    assert site["identity"]["type"] == "UserAssigned"
    config = site["properties"]["functionAppConfig"]
    assert config["runtime"] == {"name": "python", "version": "3.11"}
    assert config["deployment"]["storage"] == {
        "type": "blobContainer",
        "value": "${storage.properties.primaryEndpoints.blob}${deploymentContainerName}",
        "authentication": {"type": "UserAssignedIdentity", "userAssignedIdentityResourceId": "identityId"},
    }
    container = only_resource("core/storage.bicep", "Microsoft.Storage/storageAccounts/blobServices/containers")
    assert container["name"] == "deploymentContainerName"
    assert container["properties"]["publicAccess"] == "None"


def test_http_concurrency_per_instance_is_set_explicitly_above_pythons_default_of_one():
    scale = only_resource("app/api.bicep", "Microsoft.Web/sites")["properties"]["functionAppConfig"]
    scale = scale["scaleAndConcurrency"]
    assert scale["instanceMemoryMB"] == "instanceMemoryMB"
    assert scale["maximumInstanceCount"] == "maximumInstanceCount"
    assert scale["triggers"]["http"]["perInstanceConcurrency"] == "httpPerInstanceConcurrency"
    declared = parse("main.bicep")["parameters"]
    assert declared["httpPerInstanceConcurrency"]["default"] >= 16
    assert decorator(declared["instanceMemoryMB"], "allowed") == [512, 2048, 4096]
    assert parse("main.bicep")["modules"]["api"]["config"]["params"]["httpPerInstanceConcurrency"] == (
        "httpPerInstanceConcurrency"
    )
    # The app's own stream cap follows the platform's, so the platform scales out before the app sheds.
    assert single(app_settings()["MAX_CONCURRENT_STREAMS"]) == {
        "function": {"type": "string", "parameters": {"value_to_convert": "httpPerInstanceConcurrency"}}
    }


def test_storage_refuses_shared_keys_and_the_host_connects_with_the_managed_identity():
    storage = only_resource("core/storage.bicep", "Microsoft.Storage/storageAccounts")["properties"]
    assert storage["allowSharedKeyAccess"] is False
    assert storage["allowBlobPublicAccess"] is False
    assert storage["minimumTlsVersion"] == "TLS1_2"
    settings = app_settings()
    for service in ("blob", "queue", "table"):
        value = single(settings[f"AzureWebJobsStorage__{service}ServiceUri"])
        assert dotted(value) == f"storage.properties.primaryEndpoints.{service}"
    assert single(settings["AzureWebJobsStorage__credential"]) == "managedidentity"
    assert single(settings["AzureWebJobsStorage__clientId"]) == "identityClientId"
    assert single(settings["AZURE_CLIENT_ID"]) == "identityClientId"
    assert "AzureWebJobsStorage" not in settings
    api_text = (INFRA / "app/api.bicep").read_text()
    assert "listKeys" not in api_text and "AccountKey" not in api_text


def test_settings_flex_consumption_rejects_are_absent():
    deprecated = {
        "FUNCTIONS_WORKER_RUNTIME",
        "FUNCTIONS_EXTENSION_VERSION",
        "WEBSITE_RUN_FROM_PACKAGE",
        "WEBSITE_CONTENTSHARE",
        "WEBSITE_CONTENTAZUREFILECONNECTIONSTRING",
        "SCM_DO_BUILD_DURING_DEPLOYMENT",
        "ENABLE_ORYX_BUILD",
    }
    assert not deprecated & set(app_settings())


def test_managed_identity_gets_exactly_its_data_plane_roles_on_each_resource():
    assignments = resources_of_type("app/rbac.bicep", "Microsoft.Authorization/roleAssignments")
    roles = parse("app/rbac.bicep")["variables"]["roles"]["value"]
    granted = {}
    for name, assignment in assignments.items():
        definition = assignment["properties"]["roleDefinitionId"]["function"]
        assert definition["type"] == "subscription_resource_id"
        assert definition["parameters"]["resource_type"] == "Microsoft.Authorization/roleDefinitions"
        role_key = dotted(definition["parameters"]["resource_name_1"]).removeprefix("roles.")
        granted[roles[role_key]] = assignment["scope"]
        assert assignment["properties"]["principalId"] == "principalId", name
        assert assignment["properties"]["principalType"] == "ServicePrincipal", name
    assert granted == {role_id: scope for role_id, (_, scope) in ROLE_IDS.items()}
    storage = parse("app/rbac.bicep")["resources"]["storage"]
    assert storage["type"] == "Microsoft.Storage/storageAccounts" and storage["existing"]


def test_application_insights_takes_only_identity_based_ingestion():
    insights = only_resource("core/monitoring.bicep", "Microsoft.Insights/components")
    assert insights["properties"]["DisableLocalAuth"] is True
    assert dotted(insights["properties"]["WorkspaceResourceId"]) == "logAnalytics.id"
    settings = app_settings()
    assert single(settings["APPLICATIONINSIGHTS_AUTHENTICATION_STRING"]) == (
        "ClientId=${identityClientId};Authorization=AAD"
    )
    assert single(settings["APPLICATIONINSIGHTS_CONNECTION_STRING"]) == "applicationInsightsConnectionString"


def test_app_settings_turn_on_http_streams_table_store_and_function_keys():
    settings = app_settings()
    assert single(settings["PYTHON_ENABLE_INIT_INDEXING"]) == "1"
    assert single(settings["API_AUTH"]) == "function_key"
    event_store = single(settings["EVENT_STORE"])["operator"]["operands"]
    assert event_store["condition"] == {
        "function": {"type": "empty", "parameters": {"item_to_test": "redisUrlSecretUri"}}
    }
    assert (event_store["true_value"], event_store["false_value"]) == ("table", "redis")
    model = single(settings["MODEL_PROVIDER"])["operator"]["operands"]
    assert (model["true_value"], model["false_value"]) == ("demo", "azure_openai")


def test_stream_max_seconds_stays_below_azures_response_limit():
    parameter = parse("main.bicep")["parameters"]["streamMaxSeconds"]
    assert parameter["default"] < AZURE_RESPONSE_LIMIT_SECONDS
    assert decorator(parameter, "max_value") < AZURE_RESPONSE_LIMIT_SECONDS
    assert single(app_settings()["STREAM_MAX_SECONDS"]) == {
        "function": {"type": "string", "parameters": {"value_to_convert": "streamMaxSeconds"}}
    }


def test_every_setting_host_json_refers_to_is_set():
    host_json = (ROOT / "host.json").read_text()
    referenced = set(re.findall(r"%(\w+)%", host_json))
    assert referenced, "host.json refers to no app setting"
    assert referenced <= set(app_settings())


def test_function_timeout_outlasts_a_stream_and_fits_flex_scale_in_grace():
    raw = json.loads((ROOT / "host.json").read_text())["functionTimeout"]
    hours, minutes, seconds = (int(part) for part in raw.split(":"))
    timeout = timedelta(hours=hours, minutes=minutes, seconds=seconds)
    assert timedelta(seconds=AZURE_RESPONSE_LIMIT_SECONDS) < timeout <= timedelta(minutes=60)


def test_azure_openai_is_keyless_and_wired_to_the_app():
    account = only_resource("core/openai.bicep", "Microsoft.CognitiveServices/accounts")
    assert account["kind"] == "OpenAI"
    assert account["properties"]["disableLocalAuth"] is True
    deployment = only_resource("core/openai.bicep", "Microsoft.CognitiveServices/accounts/deployments")
    assert deployment["properties"]["model"]["format"] == "OpenAI"
    settings = app_settings()
    assert single(settings["AZURE_OPENAI_ENDPOINT"]) == "openAiEndpoint"
    assert single(settings["AZURE_OPENAI_DEPLOYMENT"]) == "openAiDeploymentName"
    assert "AZURE_OPENAI_API_KEY" not in settings
    params = parse("main.bicep")["modules"]["api"]["config"]["params"]
    for name in ("openAiEndpoint", "openAiDeploymentName"):
        operands = params[name]["operator"]["operands"]
        assert operands["condition"] == "deployAzureOpenAI" and operands["false_value"] == ""


def test_redis_url_reaches_the_app_only_as_a_key_vault_reference():
    database = only_resource("core/redis.bicep", "Microsoft.Cache/redisEnterprise/databases")
    assert database["properties"]["evictionPolicy"] == "NoEviction"
    assert database["properties"]["clientProtocol"] == "Encrypted"
    secret = only_resource("core/redis.bicep", "Microsoft.KeyVault/vaults/secrets")
    assert secret["properties"]["value"].startswith("rediss://")
    assert single(app_settings()["REDIS_URL"]) == "@Microsoft.KeyVault(SecretUri=${redisUrlSecretUri})"
    assert "redis" not in json.dumps(parse("main.bicep")["outputs"]).lower()


def test_azd_finds_the_function_app_by_the_service_name_in_azure_yaml():
    azure_yaml = (ROOT / "azure.yaml").read_text()
    service = re.search(r"^services:\n  (\w+):\n((?:    .*\n)+)", azure_yaml, flags=re.MULTILINE)
    assert service, azure_yaml
    name, body = service.group(1), service.group(2)
    assert dict(re.findall(r"^    (\w+): (\S+)$", body, flags=re.MULTILINE)) == {
        "project": ".",
        "language": "python",
        "host": "function",
    }
    tags = only_resource("app/api.bicep", "Microsoft.Web/sites")["tags"]["function"]
    assert tags["type"] == "union" and tags["parameters"]["arg_2"] == {"'azd-service-name'": name}


def test_every_resource_uses_a_stable_api_version():
    checked = []
    for path in BICEP_FILES:
        for name, resource in parse(str(path.relative_to(INFRA)))["resources"].items():
            assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", resource["api_version"]), (path.name, name)
            checked.append(resource["type"])
    assert {"Microsoft.Web/sites", "Microsoft.Storage/storageAccounts"} <= set(checked), checked
