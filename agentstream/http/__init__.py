"""The HTTP API, host-agnostic."""
