"""The Vercel AI SDK's UI message stream over a thread's log, for `useChat` and `DefaultChatTransport`.

- `messages`: the thread's conversation as UIMessages, and the new input in a chat request's UIMessages.
- `stream`: a run's events as UI message stream chunks.

Host-agnostic: `agentstream.http.ai_sdk` serves them.
"""
