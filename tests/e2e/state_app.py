"""An app whose agent keeps a typed shared state that its tools update."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel

import agentstream
from agentstream import Agent, ToolContext, tool


class Plan(BaseModel):
    title: str = "untitled"
    steps: list[str] = []
    done: int = 0


@tool
def add_steps(steps: Annotated[list[str], "Steps to add, in order."], context: ToolContext) -> str:
    """Add steps to the plan, one update per step."""
    for step in steps:
        plan = context.state
        plan["steps"] = [*plan["steps"], step]
        context.update_state(plan)
    return f"The plan has {len(context.state['steps'])} steps."


@tool
def complete_step(context: ToolContext) -> str:
    """Mark the next step done, then fail: a failing tool changes no state."""
    plan = context.state
    context.update_state({**plan, "done": plan["done"] + 1})
    raise RuntimeError("the step could not be completed")


@tool
def set_done(done: Annotated[str, "How many steps are done."], context: ToolContext) -> str:
    """Set how many steps are done, as given: the state's type refuses what is not a number."""
    context.update_state({**context.state, "done": done})
    return "ok"


planner = Agent(name="planner", instructions="You plan.", tools=[add_steps, complete_step, set_done], state_type=Plan)
plain = Agent(name="plain", instructions="No state here.", tools=[set_done])
app = agentstream.AgentFunctionApp(agents=[planner, plain])
