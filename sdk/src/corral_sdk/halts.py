"""Active halts as the client enforces them, and which one covers a call.

Checked before any policy: an `application` halt covers every call, an `agent` halt the calls
of that agent, an `end_user` halt the calls made for that end-user (by id or external id), a
`model` halt the model calls of that model. `halted` and `paused` halts both refuse calls.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class HaltRecord:
    id: str
    scope: str
    scope_value: str
    state: str
    reason: str
    end_user_external_id: str | None = None

    @classmethod
    def parse(cls, item: Mapping[str, Any]) -> HaltRecord:
        external = item.get("end_user_external_id")
        return cls(
            id=str(item["id"]),
            scope=str(item["scope"]),
            scope_value=str(item.get("scope_value") or ""),
            state=str(item.get("state") or "halted"),
            reason=str(item.get("reason") or ""),
            end_user_external_id=str(external) if external else None,
        )

    def covers(self, agent: str | None, end_user: str | None, model: str | None) -> bool:
        if self.scope == "application":
            return True
        if self.scope == "agent":
            return agent is not None and agent == self.scope_value
        if self.scope == "end_user":
            return end_user is not None and end_user in (
                self.scope_value,
                self.end_user_external_id,
            )
        if self.scope == "model":
            return model is not None and model == self.scope_value
        # Run halts concern hosted runs only.
        return False


def parse_halts(document: Mapping[str, Any]) -> tuple[str, tuple[HaltRecord, ...]]:
    """The revision and halts of a `GET /api/halts/active` answer; ValueError if malformed."""
    try:
        revision = str(document["revision"])
        items = document["halts"]
        if not isinstance(items, list):
            raise TypeError("halts is not a list")
        return revision, tuple(HaltRecord.parse(item) for item in items)
    except (KeyError, TypeError) as error:
        raise ValueError(f"not an active-halts document: {error}") from None


def covering(
    halts: Iterable[HaltRecord], agent: str | None, end_user: str | None, model: str | None
) -> HaltRecord | None:
    found: HaltRecord | None = None
    for halt in halts:
        if halt.covers(agent, end_user, model):
            if halt.state == "halted":
                return halt
            found = found or halt
    return found
