"""The models an agent can name: `OpenAIModel` (OpenAI or any compatible server) and `AzureOpenAIModel`.

```python
Agent(name="support", model=OpenAIModel("gpt-4o", temperature=0.2), ...)
Agent(name="triage", model=AzureOpenAIModel("gpt-4o-mini-prod"), ...)
Agent(name="planner", model=OpenAIModel("o4-mini", api="responses", reasoning_effort="low"), ...)
```

`api` is "chat" (Chat Completions) or "responses" (the Responses API); unset, MODEL_API decides.
On Azure OpenAI the Responses API is served by the v1 endpoint (`{endpoint}/openai/v1/`), which
takes no api-version.

What an agent leaves unset comes from the app settings (OPENAI_API_KEY, AZURE_OPENAI_ENDPOINT...),
read when the model is first used. The SDK client is built then too, in a worker thread: loading
`openai` takes a second or two, which must not stall the event loop that serves streams.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import TYPE_CHECKING, Any

from ...config import MODEL_APIS, get_settings
from .base import Chunk, ModelClient, ModelOptions, OutputSchema

if TYPE_CHECKING:
    from azure.core.credentials_async import AsyncTokenCredential

AZURE_OPENAI_SCOPE = "https://cognitiveservices.azure.com/.default"


class _SDKModel(abc.ABC):
    """A ModelClient whose API client (Chat Completions or Responses) is built on first use."""

    def __init__(self, options: ModelOptions, api: str | None) -> None:
        if api is not None and api not in MODEL_APIS:
            raise ValueError(f"api='{api}' is not a model API. Expected one of {', '.join(MODEL_APIS)}.")
        self.options = options
        self.api = api
        self._client: ModelClient | None = None

    @abc.abstractmethod
    def _build(self) -> ModelClient: ...

    async def client(self) -> ModelClient:
        if self._client is None:
            # Two first calls at once may both build one; either is fine to keep.
            self._client = await asyncio.to_thread(self._build)
        return self._client

    def _api(self) -> str:
        return self.api or get_settings().model_api

    async def stream(
        self, messages: list[dict[str, Any]], tools: list[dict[str, Any]], *, output: OutputSchema | None = None
    ) -> AsyncGenerator[Chunk, None]:
        client = await self.client()
        chunks = client.stream(messages, tools, output=output)
        async with contextlib.aclosing(chunks):
            async for chunk in chunks:
                yield chunk


class OpenAIModel(_SDKModel):
    """A model on OpenAI's API, or on any server that speaks it (`base_url`).

    `api_key` defaults to OPENAI_API_KEY and `base_url` to OPENAI_BASE_URL; a compatible server
    that takes no key needs neither.
    """

    def __init__(
        self,
        model: str,
        *,
        api: str | None = None,
        api_key: str | None = None,
        base_url: str | None = None,
        timeout: float | None = None,
        temperature: float | None = None,
        max_output_tokens: int | None = None,
        reasoning_effort: str | None = None,
    ) -> None:
        super().__init__(
            ModelOptions(
                temperature=temperature, max_output_tokens=max_output_tokens, reasoning_effort=reasoning_effort
            ),
            api,
        )
        self.model = model
        self.api_key = api_key
        self.base_url = base_url
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"OpenAIModel({self.model!r}, api={self.api!r}, base_url={self.base_url!r})"

    def _build(self) -> ModelClient:
        import openai

        from .openai_chat import OpenAIChatModel
        from .openai_responses import OpenAIResponsesModel

        settings = get_settings()
        client = openai.AsyncOpenAI(
            # A compatible server that takes no key still gets a syntactically valid header.
            api_key=self.api_key or settings.openai_api_key or "unused",
            base_url=self.base_url or settings.openai_base_url,
            timeout=self.timeout or settings.model_timeout_seconds,
            max_retries=0,
        )
        if self._api() == "responses":
            return OpenAIResponsesModel(client, model=self.model, options=self.options)
        return OpenAIChatModel(client, model=self.model, options=self.options)


class AzureOpenAIModel(_SDKModel):
    """A deployment on Azure OpenAI.

    `endpoint`, `api_key` and `api_version` default to AZURE_OPENAI_ENDPOINT, AZURE_OPENAI_API_KEY
    and AZURE_OPENAI_API_VERSION. Without a key, tokens come from `credential`, by default
    `DefaultAzureCredential` (a managed identity in Azure; AZURE_CLIENT_ID picks a user-assigned
    one), which needs `agentstream[identity]`.
    """

    def __init__(
        self,
        deployment: str,
        *,
        api: str | None = None,
        endpoint: str | None = None,
        api_key: str | None = None,
        api_version: str | None = None,
        credential: AsyncTokenCredential | None = None,
        timeout: float | None = None,
        temperature: float | None = None,
        max_output_tokens: int | None = None,
        reasoning_effort: str | None = None,
    ) -> None:
        super().__init__(
            ModelOptions(
                temperature=temperature, max_output_tokens=max_output_tokens, reasoning_effort=reasoning_effort
            ),
            api,
        )
        self.deployment = deployment
        self.endpoint = endpoint
        self.api_key = api_key
        self.api_version = api_version
        self.credential = credential
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"AzureOpenAIModel({self.deployment!r}, api={self.api!r}, endpoint={self.endpoint!r})"

    def _build(self) -> ModelClient:
        import openai

        from ...exceptions import ConfigError
        from .openai_chat import OpenAIChatModel

        settings = get_settings()
        endpoint = self.endpoint or settings.azure_openai_endpoint
        if not endpoint:
            raise ConfigError(
                f"Azure OpenAI deployment '{self.deployment}' has no endpoint: pass endpoint= or set "
                "AZURE_OPENAI_ENDPOINT."
            )
        api_key = self.api_key or settings.azure_openai_api_key
        token_provider = None
        if api_key is None:
            from azure.identity.aio import DefaultAzureCredential, get_bearer_token_provider

            credential = self.credential or DefaultAzureCredential(managed_identity_client_id=settings.azure_client_id)
            token_provider = get_bearer_token_provider(credential, AZURE_OPENAI_SCOPE)
        timeout = self.timeout or settings.model_timeout_seconds
        if self._api() == "responses":
            return self._build_responses(endpoint, api_key, token_provider, timeout)
        auth: dict[str, Any] = (
            {"api_key": api_key} if token_provider is None else {"azure_ad_token_provider": token_provider}
        )
        client = openai.AsyncAzureOpenAI(
            **auth,
            azure_endpoint=endpoint,
            azure_deployment=self.deployment,
            api_version=self.api_version or settings.azure_openai_api_version,
            timeout=timeout,
            max_retries=0,
        )
        return OpenAIChatModel(client, model=self.deployment, options=self.options)

    def _build_responses(
        self, endpoint: str, api_key: str | None, token_provider: Callable[[], Awaitable[str]] | None, timeout: float
    ) -> ModelClient:
        import openai

        from .openai_responses import OpenAIResponsesModel

        base_url = endpoint.rstrip("/") + "/openai/v1/"
        if token_provider is not None:
            client = openai.AsyncOpenAI(api_key=token_provider, base_url=base_url, timeout=timeout, max_retries=0)
            return OpenAIResponsesModel(client, model=self.deployment, options=self.options)
        # A key goes in Azure's `api-key` header, with no bearer token beside it.
        client = openai.AsyncOpenAI(
            api_key="unused",
            base_url=base_url,
            default_headers={"api-key": api_key or ""},
            timeout=timeout,
            max_retries=0,
        )
        return OpenAIResponsesModel(
            client, model=self.deployment, options=self.options, extra_headers={"Authorization": openai.Omit()}
        )
