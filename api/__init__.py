"""HTTP triggers: thin shells over agentstream.http.handlers."""
