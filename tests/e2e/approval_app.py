"""An app whose agent has tools that wait for approval; each run of one is logged to APPROVAL_LOG."""

from __future__ import annotations

import json
import os
from typing import Annotated

import agentstream
from agentstream import Agent, tool


def _record(name: str, **arguments: object) -> None:
    with open(os.environ["APPROVAL_LOG"], "a") as log:
        log.write(json.dumps({"tool": name, **arguments}) + "\n")


@tool(approval="always")
def refund(order_id: Annotated[str, "The order to refund."], amount: Annotated[float, "Euros."]) -> str:
    """Refund an order."""
    _record("refund", order_id=order_id, amount=amount)
    return f"Refunded {amount:g} EUR on {order_id}."


@tool(approval="always", approval_expires_after=1.0)
def cancel_order(order_id: Annotated[str, "The order to cancel."]) -> str:
    """Cancel an order; the approval request lapses after a second."""
    _record("cancel_order", order_id=order_id)
    return f"Cancelled {order_id}."


@tool
def lookup_order(order_id: Annotated[str, "The order number."]) -> str:
    """Look up an order."""
    _record("lookup_order", order_id=order_id)
    return f"Order {order_id}: delivered."


support = Agent(
    name="support",
    instructions="You are a support agent.",
    tools=[refund, cancel_order, lookup_order],
)
app = agentstream.AgentFunctionApp(agents=[support])
