"""The event log: events, their storage backends, the writer, reader and live tails, SSE framing."""
