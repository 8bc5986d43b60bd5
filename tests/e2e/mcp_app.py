"""A function app whose agents call tools on MCP servers the test started (their URLs in settings).

`remote` reaches its server with a bearer token from the TEST_MCP_TOKEN setting; `fragile` uses a
server of its own, which a test stops mid-run. Both leave out the servers' `wipe_disk`.
"""

from __future__ import annotations

import os

import agentstream
from agentstream import Agent

ALLOWED = ["add", "forecast"]

remote = Agent(
    name="remote",
    description="Uses an MCP server's tools.",
    instructions="You answer with the remote tools.",
    tools=[
        agentstream.MCPServer(
            os.environ["TEST_MCP_URL"],
            name="tools",
            headers={"Authorization": agentstream.setting("TEST_MCP_TOKEN", prefix="Bearer ")},
            allowed_tools=ALLOWED,
        )
    ],
)
fragile = Agent(
    name="fragile",
    instructions="You answer with the remote tools.",
    tools=[agentstream.MCPServer(os.environ["TEST_FRAGILE_MCP_URL"], name="fragile", allowed_tools=ALLOWED)],
)
careful = Agent(
    name="careful",
    instructions="You ask before forecasting.",
    tools=[
        agentstream.MCPServer(
            os.environ["TEST_MCP_URL"],
            name="tools",
            headers={"Authorization": agentstream.setting("TEST_MCP_TOKEN", prefix="Bearer ")},
            allowed_tools=ALLOWED,
            approval=["forecast"],
        )
    ],
)
app = agentstream.AgentFunctionApp(agents=[remote, fragile, careful])
