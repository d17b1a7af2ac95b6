"""What is known about the current request, for logs and audit rows."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

# `run`: a hosted agent run (its sidecar acting for it); `end_user`: an application's customer.
ActorKind = Literal["user", "api_key", "end_user", "run", "system"]


@dataclass(frozen=True, slots=True)
class Actor:
    """Who performed an action: a user, an API key, a run, or Corral itself (CLI, loops)."""

    kind: ActorKind
    id: str | None
    request_id: str | None = None
    ip_address: str | None = None
    user_agent: str | None = None

    @classmethod
    def system(cls, label: str = "system") -> Actor:
        return cls(kind="system", id=None, request_id=label)
