"""An app for the model tests: this repository's assistant (its model from the settings), an agent
with a structured output type, and one on an Azure OpenAI deployment through the Responses API
with an Entra ID token (the credential is the only Azure part replaced: it hands out a fixed token).
"""

from __future__ import annotations

import os
import time
from typing import Any

from azure.core.credentials import AccessToken
from pydantic import BaseModel, Field

import agentstream
from agentstream import Agent, AzureOpenAIModel
from orchestrators.agents import assistant
from orchestrators.tools import get_weather


class Forecast(BaseModel):
    city: str
    high_c: float = Field(description="Today's high in °C")
    conditions: list[str]
    warning: str | None = None


class FixedTokenCredential:
    async def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return AccessToken(os.environ["TEST_ENTRA_TOKEN"], int(time.time()) + 3600)

    async def close(self) -> None:
        pass

    async def __aenter__(self) -> FixedTokenCredential:
        return self

    async def __aexit__(self, *args: object) -> None:
        pass


forecaster = Agent(
    name="forecaster",
    instructions="You forecast the weather. Use the tool.",
    tools=[get_weather],
    output_type=Forecast,
)
planner = Agent(
    name="planner",
    instructions="You plan trips.",
    tools=[get_weather],
    model=AzureOpenAIModel(
        os.environ.get("TEST_AZURE_DEPLOYMENT", "gpt5-prod"),
        api="responses",
        reasoning_effort="medium",
        credential=FixedTokenCredential(),  # type: ignore[arg-type]
    ),
)
app = agentstream.AgentFunctionApp(agents=[assistant, forecaster, planner])
