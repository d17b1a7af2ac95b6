"""Keeping the bundle fresh: ETag revalidation, fail-static, fail-closed, refused keys, and a
bundle that does not compile."""

from __future__ import annotations

import logging

import pytest

from corral_sdk import AuthenticationFailed, Client, PolicyBlocked, ServerUnreachable
from corral_sdk.bundle import parse_bundle
from corral_sdk.bundle_http import BundleFetcher
from corral_sdk.policy import InMemoryThrottleStore
from corral_sdk.policy_state import PolicyState
from tests.sdk_client.conftest import NEVER, SERVER_TIMEOUT_SECONDS, Corral


class FakeClock:
    """Monotonic seconds that move only when the test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _block_shell(corral: Corral, name: str = "no shell") -> None:
    corral.create_policy(name=name, action="block", applies_to=["tool.shell"])


def test_revalidation_answers_304_until_a_policy_changes(corral: Corral, client: Client) -> None:
    assert client.check("tool.shell").allowed
    first = client.revision
    assert first is not None
    assert client.refresh() is False  # 304: nothing new
    assert client.revision == first

    _block_shell(corral)
    assert client.refresh() is True
    assert client.revision != first
    with pytest.raises(PolicyBlocked):
        client.check("tool.shell")


def test_fail_static_keeps_enforcing_when_the_server_is_gone(
    corral: Corral, client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    _block_shell(corral)
    with pytest.raises(PolicyBlocked):
        client.check("tool.shell")
    corral.stop()
    with pytest.raises(ServerUnreachable):
        client.refresh()
    with pytest.raises(PolicyBlocked):
        client.check("tool.shell")
    assert client.check("tool.search").allowed
    assert "could not refresh the policy bundle" in caplog.text


def test_fail_closed_refuses_once_the_bundle_is_too_old(corral: Corral) -> None:
    clock = FakeClock()
    strict = Client(
        corral.key,
        corral.base_url,
        timeout_seconds=SERVER_TIMEOUT_SECONDS,
        fail_closed=True,
        max_staleness_seconds=30,
        refresh_interval_seconds=NEVER,
        export_spans=False,
        clock=clock,
    )
    with strict:
        assert strict.check("tool.search").allowed
        corral.stop()
        clock.now += 29
        assert strict.check("tool.search").allowed
        clock.now += 2
        with pytest.raises(ServerUnreachable, match="fails closed"):
            strict.check("tool.search")


def test_fail_closed_without_any_bundle(corral: Corral) -> None:
    corral.stop()
    strict = Client(corral.key, corral.base_url, fail_closed=True, export_spans=False)
    with strict, pytest.raises(ServerUnreachable):
        strict.check("tool.search")


def test_fail_open_before_the_first_bundle_allows_and_warns_once(
    corral: Corral, caplog: pytest.LogCaptureFixture
) -> None:
    corral.stop()
    lenient = Client(corral.key, corral.base_url, export_spans=False)
    with lenient:
        assert lenient.check("tool.shell").allowed
        assert lenient.check("tool.shell").allowed
    assert caplog.text.count("no policy bundle received yet") == 1


@pytest.mark.parametrize("scopes", [None, ["traces:write"]])
def test_a_refused_key_raises_authentication_failed(
    corral: Corral, scopes: list[str] | None, caplog: pytest.LogCaptureFixture
) -> None:
    key = "crl_not_a_real_key_at_all" if scopes is None else corral.create_key(scopes)
    refused = Client(
        key, corral.base_url, timeout_seconds=SERVER_TIMEOUT_SECONDS, export_spans=False
    )
    with refused, pytest.raises(AuthenticationFailed):
        refused.check("tool.shell")
    assert key not in caplog.text


def test_a_bundle_that_does_not_compile_leaves_the_previous_in_force(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # No server: a bundle the server would refuse to store reaches the state directly.
    fetcher = BundleFetcher("crl_unused", "http://127.0.0.1:9", timeout_seconds=1)
    state = PolicyState(fetcher, clock=FakeClock(), throttle_store=InMemoryThrottleStore())
    policy = {
        "id": "pol_1",
        "name": "no shell",
        "expression": "true",
        "action": "block",
        "applies_to": ["tool.shell"],
        "future_field": "ignored",
    }
    good = {"revision": "r1", "default_posture": "allow", "policies": [policy], "new": 1}
    assert state.install(parse_bundle(good))
    broken = {**policy, "id": "pol_2", "expression": "nosuch(", "applies_to": ["tool.*"]}
    with caplog.at_level(logging.WARNING, logger="corral_sdk"):
        installed = state.install(parse_bundle({**good, "revision": "r2", "policies": [broken]}))
    assert not installed
    assert state.enforced_revision == "r1"
    assert "still enforcing revision r1" in caplog.text
    assert state.policy_set is not None
    assert state.policy_set.decide("tool.shell", {}).policy_id == "pol_1"

    # A first bundle that does not compile is enforced, its invalid policies failing closed.
    fresh = PolicyState(fetcher, clock=FakeClock(), throttle_store=InMemoryThrottleStore())
    assert fresh.install(parse_bundle({**good, "policies": [broken]}))
    assert fresh.policy_set is not None
    assert fresh.policy_set.decide("tool.search", {}).policy_id == "pol_2"
    fetcher.close()
