"""Durable orchestrations and activities: thin shells over agentstream's steps."""
