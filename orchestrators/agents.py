"""This app's agents. The first, `assistant`, also serves the unnamed routes and the chat page."""

from __future__ import annotations

from agentstream import Agent, RunContext

from .tools import book_table, calculate, get_time, get_weather


def assistant_instructions(context: RunContext) -> str:
    return (
        "You are a helpful assistant. Use the tools for weather, time and arithmetic rather than guessing; "
        "book tables only when asked (a person approves each booking). "
        f"Today is {context.now:%A %d %B %Y} (UTC)."
    )


assistant = Agent(
    name="assistant",
    description="Answers questions, with tools for the weather, the time, arithmetic and table bookings.",
    instructions=assistant_instructions,
    tools=[get_weather, get_time, calculate, book_table],
)

editor = Agent(
    name="editor",
    description="Rewrites text to be shorter and clearer. No tools.",
    instructions="You are an editor. Rewrite what the user sends to be shorter and clearer; keep its meaning.",
)
