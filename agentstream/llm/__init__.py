"""Model clients behind one streaming interface."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..config import Settings
from .base import Chunk, ModelClient, ModelError, ReasoningDelta, TextDelta, ToolCallDelta, Usage
from .demo import DemoModel

if TYPE_CHECKING:
    from azure.core.credentials_async import AsyncTokenCredential

AZURE_OPENAI_SCOPE = "https://cognitiveservices.azure.com/.default"


def create_model(settings: Settings, *, azure_credential: AsyncTokenCredential | None = None) -> ModelClient:
    """The model client MODEL_PROVIDER names.

    For `azure_openai` without an API key, tokens come from `azure_credential`, by default
    `DefaultAzureCredential` (a managed identity in Azure; `AZURE_CLIENT_ID` picks a user-assigned one).
    """
    if settings.model_provider == "demo":
        return DemoModel(tokens_per_second=settings.demo_tokens_per_second)
    # Imported here: the demo model should not pay for loading the SDK.
    import openai

    from .openai_chat import OpenAIChatModel

    if settings.model_provider == "openai":
        client = openai.AsyncOpenAI(
            # A compatible server that takes no key still gets a syntactically valid header.
            api_key=settings.openai_api_key or "unused",
            base_url=settings.openai_base_url,
            timeout=settings.model_timeout_seconds,
            max_retries=0,
        )
        return OpenAIChatModel(client, model=settings.openai_model)
    endpoint, deployment = settings.azure_openai_endpoint, settings.azure_openai_deployment
    assert endpoint is not None and deployment is not None  # checked by Settings.from_env
    if settings.azure_openai_api_key is not None:
        auth: dict[str, Any] = {"api_key": settings.azure_openai_api_key}
    else:
        from azure.identity.aio import DefaultAzureCredential, get_bearer_token_provider

        credential = azure_credential or DefaultAzureCredential(managed_identity_client_id=settings.azure_client_id)
        auth = {"azure_ad_token_provider": get_bearer_token_provider(credential, AZURE_OPENAI_SCOPE)}
    azure = openai.AsyncAzureOpenAI(
        **auth,
        azure_endpoint=endpoint,
        azure_deployment=deployment,
        api_version=settings.azure_openai_api_version,
        timeout=settings.model_timeout_seconds,
        max_retries=0,
    )
    return OpenAIChatModel(azure, model=deployment)


__all__ = [
    "AZURE_OPENAI_SCOPE",
    "Chunk",
    "DemoModel",
    "ModelClient",
    "ModelError",
    "ReasoningDelta",
    "TextDelta",
    "ToolCallDelta",
    "Usage",
    "create_model",
]
