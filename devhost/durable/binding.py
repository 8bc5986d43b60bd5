"""The ``durableClient`` input binding string (legacy-protocol shape of ``OrchestrationClientInputData``)."""

from __future__ import annotations

import json

INSTANCE_ID_PLACEHOLDER = "INSTANCEID"
RPC_PREFIX = "/durabletask"
WEBHOOK_PREFIX = "/runtime/webhooks/durabletask"
CONNECTION_NAME = "Storage"


def rpc_path(system_key: str) -> str:
    """Where the RPC flavour answers the app's SDK without a query key: under a path only the binding reveals."""
    return f"{RPC_PREFIX}/{system_key}"


def management_urls(base_url: str, task_hub: str, system_key: str, instance_id: str) -> dict[str, str]:
    """The extension's ``HttpManagementPayload`` for one instance, pointing at the public webhook API."""
    instance = f"{base_url}{WEBHOOK_PREFIX}/instances/{instance_id}"
    query = f"taskHub={task_hub}&connection={CONNECTION_NAME}&code={system_key}"
    return {
        "id": instance_id,
        "statusQueryGetUri": f"{instance}?{query}",
        "sendEventPostUri": f"{instance}/raiseEvent/{{eventName}}?{query}",
        "terminatePostUri": f"{instance}/terminate?reason={{text}}&{query}",
        "rewindPostUri": f"{instance}/rewind?reason={{text}}&{query}",
        "purgeHistoryDeleteUri": f"{instance}?{query}",
        "restartPostUri": f"{instance}/restart?{query}",
        "suspendPostUri": f"{instance}/suspend?reason={{text}}&{query}",
        "resumePostUri": f"{instance}/resume?reason={{text}}&{query}",
    }


def client_binding_json(base_url: str, task_hub: str, system_key: str) -> str:
    webhook = f"{base_url}{WEBHOOK_PREFIX}"
    creation = f"{webhook}/orchestrators/{{functionName}}[/{{instanceId}}]"
    return json.dumps(
        {
            "taskHubName": task_hub,
            "connectionName": None,
            "creationUrls": {
                "createNewInstancePostUri": f"{creation}?code={system_key}",
                "createAndWaitOnNewInstancePostUri": (
                    f"{creation}?timeout={{timeoutInSeconds}}&pollingInterval={{intervalInSeconds}}&code={system_key}"
                ),
            },
            "managementUrls": management_urls(base_url, task_hub, system_key, INSTANCE_ID_PLACEHOLDER),
            "baseUrl": webhook,
            "requiredQueryStringParameters": f"code={system_key}",
            "rpcBaseUrl": f"{base_url}{rpc_path(system_key)}/",
            "httpBaseUrl": None,
        }
    )
