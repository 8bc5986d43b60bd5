"""The Table Storage clients of one store: one set per event loop, its tables created on first use."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

from azure.core.credentials_async import AsyncTokenCredential
from azure.core.exceptions import AzureError
from azure.data.tables.aio import TableClient, TableServiceClient

from ...exceptions import StoreUnavailable
from .table_connection import TableAccount


@dataclass(slots=True)
class Clients:
    loop: asyncio.AbstractEventLoop
    service: TableServiceClient
    credential: AsyncTokenCredential | None
    events: TableClient
    threads: TableClient
    ready: asyncio.Task[None]


class TableSession:
    def __init__(self, account: TableAccount, events_table: str, threads_table: str) -> None:
        self.account = account
        self.events_table = events_table
        self.threads_table = threads_table
        self._clients: Clients | None = None

    async def clients(self) -> Clients:
        """The running loop's clients, once both tables exist."""
        # Clients hold an aiohttp session, which belongs to one event loop.
        loop = asyncio.get_running_loop()
        clients = self._clients
        if clients is None or clients.loop is not loop:
            service, credential = self.account.connect()
            ready = loop.create_task(self._create_tables(service, credential))
            clients = Clients(
                loop,
                service,
                credential,
                service.get_table_client(self.events_table),
                service.get_table_client(self.threads_table),
                ready,
            )
            self._clients = clients
        try:
            with self.reaching():
                await asyncio.shield(clients.ready)
        except BaseException:
            if self._clients is clients and clients.ready.done():
                self._clients = None
            raise
        return clients

    async def events(self) -> TableClient:
        return (await self.clients()).events

    async def _create_tables(self, service: TableServiceClient, credential: AsyncTokenCredential | None) -> None:
        try:
            await service.create_table_if_not_exists(self.events_table)
            await service.create_table_if_not_exists(self.threads_table)
        except BaseException:
            await service.close()
            if credential is not None:
                await credential.close()
            raise

    @contextlib.contextmanager
    def reaching(self) -> Iterator[None]:
        """Azure and network errors inside become StoreUnavailable, naming the account."""
        try:
            yield
        except (AzureError, OSError, TimeoutError) as exc:
            raise StoreUnavailable(
                f"Table storage at {self.account.description} failed: {type(exc).__name__}: {exc}"
            ) from exc

    async def close(self) -> None:
        clients, self._clients = self._clients, None
        if clients is None or clients.loop is not asyncio.get_running_loop():
            return
        clients.ready.cancel()
        await clients.service.close()
        if clients.credential is not None:
            await clients.credential.close()
