"""Reading the bundle document: unknown keys ignored, wrong shapes refused."""

from __future__ import annotations

import pytest

from corral_sdk.bundle import BundleInvalid, parse_bundle
from corral_sdk.policy import Action, Posture


def test_a_bundle_is_read_and_unknown_keys_are_ignored() -> None:
    bundle = parse_bundle(
        {
            "application_id": "app_1",
            "revision": "abc",
            "default_posture": "deny",
            "generated_at": "2026-12-01T00:00:00Z",
            "signature": "from a later version",
            "policies": [
                {
                    "id": "pol_1",
                    "name": "no shell",
                    "expression": "true",
                    "action": "block",
                    "action_config": {"message": "no"},
                    "priority": 5,
                    "applies_to": ["tool.shell"],
                    "enabled": True,
                    "shadow": False,
                    "owner": "unknown key",
                }
            ],
        }
    )
    assert (bundle.revision, bundle.default_posture) == ("abc", Posture.DENY)
    (policy,) = bundle.policies
    assert (policy.id, policy.action, policy.priority) == ("pol_1", Action.BLOCK, 5)
    assert policy.applies_to == ("tool.shell",)


@pytest.mark.parametrize(
    "document",
    [
        [],
        {"policies": []},
        {"revision": "r", "default_posture": "maybe"},
        {"revision": "r", "policies": {}},
        {"revision": "r", "policies": [{"id": "p", "name": "n", "expression": "true"}]},
        {"revision": "r", "policies": [{"id": "p", "name": "n", "expression": "t", "action": "x"}]},
        {
            "revision": "r",
            "policies": [
                {"id": "p", "name": "n", "expression": "t", "action": "log", "priority": "1"}
            ],
        },
    ],
)
def test_wrong_shapes_are_refused(document: object) -> None:
    with pytest.raises(BundleInvalid):
        parse_bundle(document)
