"""Model clients behind one streaming interface."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...config import Settings
from .base import (
    Chunk,
    EncryptedReasoning,
    ModelClient,
    ModelError,
    ModelOptions,
    OutputSchema,
    ReasoningDelta,
    TextDelta,
    ToolCallDelta,
    Usage,
)
from .demo import DemoModel
from .providers import AZURE_OPENAI_SCOPE, AzureOpenAIModel, OpenAIModel

if TYPE_CHECKING:
    from azure.core.credentials_async import AsyncTokenCredential


def create_model(settings: Settings, *, azure_credential: AsyncTokenCredential | None = None) -> ModelClient:
    """The model client MODEL_PROVIDER names: the one agents without a model of their own use.

    For `azure_openai` without an API key, tokens come from `azure_credential`, by default
    `DefaultAzureCredential` (a managed identity in Azure; `AZURE_CLIENT_ID` picks a user-assigned one).
    """
    if settings.model_provider == "demo":
        return DemoModel(tokens_per_second=settings.demo_tokens_per_second)
    if settings.model_provider == "openai":
        return OpenAIModel(
            settings.openai_model,
            api=settings.model_api,
            api_key=settings.openai_api_key,
            base_url=settings.openai_base_url,
            timeout=settings.model_timeout_seconds,
            reasoning_effort=settings.model_reasoning_effort,
        )
    assert settings.azure_openai_deployment is not None  # checked by Settings.from_env
    return AzureOpenAIModel(
        settings.azure_openai_deployment,
        api=settings.model_api,
        endpoint=settings.azure_openai_endpoint,
        api_key=settings.azure_openai_api_key,
        api_version=settings.azure_openai_api_version,
        credential=azure_credential,
        timeout=settings.model_timeout_seconds,
        reasoning_effort=settings.model_reasoning_effort,
    )


__all__ = [
    "AZURE_OPENAI_SCOPE",
    "AzureOpenAIModel",
    "Chunk",
    "DemoModel",
    "EncryptedReasoning",
    "ModelClient",
    "ModelError",
    "ModelOptions",
    "OpenAIModel",
    "OutputSchema",
    "ReasoningDelta",
    "TextDelta",
    "ToolCallDelta",
    "Usage",
    "create_model",
]
