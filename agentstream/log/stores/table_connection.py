"""Connecting to Table Storage the way the Functions host does, from its AzureWebJobsStorage settings.

A connection string (Azurite's `UseDevelopmentStorage=true` or a full one), or an identity-based
connection: the table endpoint plus DefaultAzureCredential, or the app's managed identity
(`AzureWebJobsStorage__credential=managedidentity`, with `__clientId` for a user-assigned one).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from azure.data.tables.aio import TableServiceClient

from ...telemetry import quiet_azure_http_logging

if TYPE_CHECKING:
    from azure.core.credentials_async import AsyncTokenCredential

    from ...config import Settings

# Fail fast when the account is unreachable: the caller turns the error into `store_unavailable`.
_CLIENT_OPTIONS: dict[str, Any] = {
    "retry_total": 3,
    "retry_backoff_factor": 0.2,
    "retry_backoff_max": 2,
    "connection_timeout": 5,
    "read_timeout": 20,
}


@dataclass(frozen=True, kw_only=True)
class TableAccount:
    connection_string: str | None = field(default=None, repr=False)
    table_uri: str | None = None
    managed_identity: bool = False
    client_id: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> TableAccount:
        return cls(
            connection_string=settings.storage_connection_string,
            table_uri=settings.storage_table_uri,
            managed_identity=(settings.storage_credential or "").lower() == "managedidentity",
            client_id=settings.storage_client_id,
        )

    @property
    def description(self) -> str:
        """Where the store lives, for messages: never the key."""
        if self.table_uri is not None:
            return self.table_uri
        assert self.connection_string is not None
        if self.connection_string.lower() == "usedevelopmentstorage=true":
            return "Azurite (UseDevelopmentStorage=true)"
        parts = dict(p.split("=", 1) for p in self.connection_string.split(";") if "=" in p)
        return parts.get("TableEndpoint") or parts.get("AccountName", "the storage account")

    def connect(self) -> tuple[TableServiceClient, AsyncTokenCredential | None]:
        """A service client for the running event loop, and the credential to close with it."""
        quiet_azure_http_logging()
        if self.table_uri is not None:
            credential = self._credential()
            return TableServiceClient(self.table_uri, credential=credential, **_CLIENT_OPTIONS), credential
        assert self.connection_string is not None
        return TableServiceClient.from_connection_string(self.connection_string, **_CLIENT_OPTIONS), None

    def _credential(self) -> AsyncTokenCredential:
        from azure.identity.aio import DefaultAzureCredential, ManagedIdentityCredential

        if self.managed_identity:
            return ManagedIdentityCredential(client_id=self.client_id)
        return DefaultAzureCredential(managed_identity_client_id=self.client_id)
