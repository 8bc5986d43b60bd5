"""agentstream: reliable, resumable streaming for LLM agents on Azure Functions.

```python
import agentstream
from agentstream import Agent, tool

@tool
def lookup_order(order_id: str) -> str:
    \"\"\"Look up the status of an order.\"\"\"

app = agentstream.AgentFunctionApp(agents=[Agent(name="support", instructions="...", tools=[lookup_order])])
```
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .agent.agents import Agent, RunContext
from .agent.llm import AzureOpenAIModel, DemoModel, ModelClient, OpenAIModel
from .agent.mcp import MCPServer
from .agent.tools import Tool, ToolContext, tool
from .config import setting
from .exceptions import AgentStreamError, APIError, ConfigError, StoreUnavailable
from .log.events import Envelope, NewEvent

if TYPE_CHECKING:
    from .functions.app import AgentFunctionApp


def __getattr__(name: str) -> Any:
    # The Functions layer is imported on first use: the core itself never loads azure.functions.
    if name == "AgentFunctionApp":
        from .functions.app import AgentFunctionApp

        return AgentFunctionApp
    raise AttributeError(f"module 'agentstream' has no attribute '{name}'")


__all__ = [
    "APIError",
    "Agent",
    "AgentFunctionApp",
    "AgentStreamError",
    "AzureOpenAIModel",
    "ConfigError",
    "DemoModel",
    "Envelope",
    "MCPServer",
    "ModelClient",
    "NewEvent",
    "OpenAIModel",
    "RunContext",
    "StoreUnavailable",
    "Tool",
    "ToolContext",
    "setting",
    "tool",
]
