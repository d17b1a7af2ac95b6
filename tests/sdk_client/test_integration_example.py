"""`examples/blocked_tool` run against a real server, so the newcomer example cannot rot."""

from __future__ import annotations

import pytest
from examples.blocked_tool.agent import main
from examples.blocked_tool.policy import POLICY

from tests.sdk_client.conftest import SERVER_TIMEOUT_SECONDS, Corral


def test_the_example_blocks_the_dangerous_call_and_runs_the_safe_one(
    corral: Corral, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(corral.base_url, corral.key, SERVER_TIMEOUT_SECONDS) == 0

    printed = capsys.readouterr().out
    assert "agent -> shell(command='rm -rf ./workspace')" in printed
    assert (
        "  BLOCKED: Corral refused this tool call (policy 'example: no recursive deletes'): "
        "recursive deletes are not allowed"
    ) in printed
    assert "  ran:     'Corral decides tool calls before they run.'" in printed
    assert "was BLOCKED by policy 'example: no recursive deletes'; the safe call ran." in printed


def test_running_the_example_again_reuses_its_policy(corral: Corral) -> None:
    assert main(corral.base_url, corral.key, SERVER_TIMEOUT_SECONDS) == 0
    assert main(corral.base_url, corral.key, SERVER_TIMEOUT_SECONDS) == 0

    listed = corral.http.get("/api/policies").json()["data"]
    assert [p["name"] for p in listed] == [POLICY["name"]]


def test_an_unreachable_corral_is_explained(
    corral: Corral, capsys: pytest.CaptureFixture[str]
) -> None:
    corral.stop()

    assert main(corral.base_url, corral.key, SERVER_TIMEOUT_SECONDS) == 2
    assert "Start it with `make run`" in capsys.readouterr().out
