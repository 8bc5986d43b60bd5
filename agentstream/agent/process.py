"""This worker process's agents, and the model of the agents that name none."""

from __future__ import annotations

import functools

from ..config import get_settings
from .agents import Agent, Agents
from .llm import ModelClient, create_model

_agents: Agents | None = None


def use_agents(agents: Agents) -> None:
    """Make these the process's agents: the function app does, when it is built."""
    global _agents
    _agents = agents


def get_agents() -> Agents:
    if _agents is None:
        raise RuntimeError("No agents: build an agentstream.AgentFunctionApp(agents=[...]) first.")
    return _agents


@functools.cache
def get_default_model() -> ModelClient:
    """The model of agents that name none: MODEL_PROVIDER's (its SDK client is built on first use)."""
    return create_model(get_settings())


def model_of(agent: Agent) -> ModelClient:
    return agent.model or get_default_model()
