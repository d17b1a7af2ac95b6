"""The bundle is a pure function of the stored state, so every replica serves the same bytes."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson

from corral.governance.models import PolicyRecord
from corral.governance.policy_sets import build_bundle

CHANGED = datetime(2026, 1, 2, 3, 4, 5, 678_000, tzinfo=UTC)


def _record(**overrides: object) -> PolicyRecord:
    values: dict[str, object] = {
        "id": "pol_01",
        "name": "p",
        "expression": "true",
        "action": "log",
        "action_config": {"b": 1, "a": 2},
        "priority": 1,
        "applies_to": ["tool.*"],
        "enabled": True,
        "shadow": False,
    } | overrides
    return PolicyRecord(**values)


def test_same_state_same_bytes_and_revision() -> None:
    first = build_bundle("app_1", 3, "allow", [_record()], CHANGED)
    second = build_bundle("app_1", 3, "allow", [_record()], CHANGED)
    assert first == second
    revision, body = first
    document = orjson.loads(body)
    assert document["revision"] == revision
    assert document["generated_at"] == "2026-01-02T03:04:05.678000Z"


def test_any_change_gives_another_revision() -> None:
    base = build_bundle("app_1", 3, "allow", [_record()], CHANGED)[0]
    assert build_bundle("app_2", 3, "allow", [_record()], CHANGED)[0] != base
    assert build_bundle("app_1", 4, "allow", [_record()], CHANGED)[0] != base
    assert build_bundle("app_1", 3, "deny", [_record()], CHANGED)[0] != base
    assert build_bundle("app_1", 3, "allow", [_record(priority=2)], CHANGED)[0] != base
    assert build_bundle("app_1", 3, "allow", [], CHANGED)[0] != base
