"""The Functions layer: triggers, orchestrator and activities. The only place that imports azure.functions."""
