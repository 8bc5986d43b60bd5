"""What this app's agent orchestrations run: its agents (`agents.py`) and their tools (`tools.py`).

agentstream registers the orchestration itself (`agent_run`); each model turn and each call of a
tool below is one of its activities.
"""
