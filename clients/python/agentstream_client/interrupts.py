"""Tool calls waiting for a person's decision (AG-UI interrupts), and the answers that resume them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, kw_only=True)
class Interrupt:
    """One tool call the run stopped for. Answer with `approve()` or `reject()` in `client.run(resume=[...])`."""

    id: str
    tool_call_id: str
    message: str
    tool_name: str
    arguments: str
    """The call's arguments as the model sent them (JSON text)."""
    expires_at: str | None = None
    response_schema: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_event(cls, body: dict[str, Any], calls: dict[str, tuple[str, str]]) -> Interrupt:
        """From an interrupt of RUN_FINISHED's outcome, with the run's calls as {id: (name, arguments)}."""
        name, arguments = calls.get(body["toolCallId"], ("", ""))
        return cls(
            id=body["id"],
            tool_call_id=body["toolCallId"],
            message=body.get("message", ""),
            tool_name=name,
            arguments=arguments,
            expires_at=body.get("expiresAt"),
            response_schema=body.get("responseSchema", {}),
        )

    def approve(self, arguments: dict[str, Any] | None = None) -> dict[str, Any]:
        """The resume entry approving the call, with `arguments` replacing the model's when given."""
        payload: dict[str, Any] = {"approved": True}
        if arguments is not None:
            payload["arguments"] = arguments
        return {"interruptId": self.id, "status": "resolved", "payload": payload}

    def reject(self) -> dict[str, Any]:
        """The resume entry declining the call: it does not run, and the model is told."""
        return {"interruptId": self.id, "status": "resolved", "payload": {"approved": False}}
