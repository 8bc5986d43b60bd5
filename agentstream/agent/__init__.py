"""The agent: its definition, tools, model clients and the run and its steps, over the event log."""
