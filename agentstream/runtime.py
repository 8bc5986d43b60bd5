"""The process-wide parts: the app's agents, one store, one tail hub, one default model per worker process.

HTTP triggers and activities that run in the same process share them, which is what lets a
stream reader see an activity's events the moment they are committed.
"""

from __future__ import annotations

import functools

from .agent.agents import Agent, Agents
from .agent.llm import ModelClient, create_model
from .config import get_settings
from .log.stores import EventStore, create_store
from .log.tail import TailHub


@functools.cache
def get_store() -> EventStore:
    return create_store(get_settings())


@functools.cache
def get_hub() -> TailHub:
    return TailHub(get_store())


@functools.cache
def get_default_model() -> ModelClient:
    """The model of agents that name none: MODEL_PROVIDER's (its SDK client is built on first use)."""
    return create_model(get_settings())


def model_of(agent: Agent) -> ModelClient:
    return agent.model or get_default_model()


_agents: Agents | None = None


def use_agents(agents: Agents) -> None:
    """Make these the process's agents: the function app does, when it is built."""
    global _agents
    _agents = agents


def get_agents() -> Agents:
    if _agents is None:
        raise RuntimeError("No agents: build an agentstream.AgentFunctionApp(agents=[...]) first.")
    return _agents
