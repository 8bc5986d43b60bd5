"""An app with one agent per `multitask_strategy`, and one whose tool waits for approval."""

from __future__ import annotations

import agentstream
from agentstream import Agent, tool


@tool(approval="always")
def book_table(guests: int) -> str:
    """Book a table."""
    return f"Booked for {guests}."


queueing = Agent(name="queueing", instructions="You answer in turn.", multitask_strategy="enqueue", tools=[book_table])
interrupting = Agent(name="interrupting", instructions="You answer the latest.", multitask_strategy="interrupt")
rejecting = Agent(name="rejecting", instructions="One at a time.")
app = agentstream.AgentFunctionApp(agents=[queueing, interrupting, rejecting])
