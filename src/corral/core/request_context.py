"""What is known about the current request, for logs and audit rows."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

ActorKind = Literal["user", "api_key", "system"]


@dataclass(frozen=True, slots=True)
class Actor:
    """Who performed an action: a user, an API key, or Corral itself (CLI, loops)."""

    kind: ActorKind
    id: str | None
    request_id: str | None = None
    ip_address: str | None = None

    @classmethod
    def system(cls, label: str = "system") -> Actor:
        return cls(kind="system", id=None, request_id=label)
