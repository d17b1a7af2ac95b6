"""`@client.guard` on sync and async functions: the decision comes before the body."""

from __future__ import annotations

from typing import Any

import pytest

from corral_sdk import Client, PolicyBlocked
from corral_sdk.guard import bound_arguments
from tests.sdk_client.conftest import Corral

RM_RF = 'has(args.command) && args.command.contains("rm -rf")'


def _no_rm_rf(corral: Corral) -> None:
    corral.create_policy(
        name="no recursive deletes", action="block", expression=RM_RF, applies_to=["tool.shell"]
    )


def test_a_blocked_sync_call_never_runs_its_body(corral: Corral, client: Client) -> None:
    _no_rm_rf(corral)
    ran: list[str] = []

    @client.guard
    def shell(command: str, timeout: int = 10) -> str:
        ran.append(command)
        return f"ran {command}"

    with pytest.raises(PolicyBlocked):
        shell("rm -rf /")
    assert ran == []
    assert shell("ls") == "ran ls"
    assert ran == ["ls"]
    assert shell.__name__ == "shell"


async def test_a_blocked_async_call_never_runs_its_body(corral: Corral, client: Client) -> None:
    _no_rm_rf(corral)
    ran: list[str] = []

    @client.guard(name="tool.shell", agent="async-bot")
    async def run_command(command: str) -> str:
        ran.append(command)
        return f"ran {command}"

    with pytest.raises(PolicyBlocked):
        await run_command(command="rm -rf /tmp")
    assert ran == []
    assert await run_command("ls") == "ran ls"
    assert ran == ["ls"]


def test_steer_returns_the_replacement_instead_of_running(corral: Corral, client: Client) -> None:
    corral.create_policy(
        name="no production database",
        action="steer",
        expression='args.database == "prod"',
        applies_to=["tool.query"],
        action_config={"replacement": "use the staging database"},
    )
    ran: list[str] = []

    @client.guard
    def query(sql: str, database: str = "prod") -> str:
        ran.append(sql)
        return "rows"

    assert query("select 1") == "use the staging database"
    assert ran == []
    assert query("select 1", database="staging") == "rows"


async def test_async_steer(corral: Corral, client: Client) -> None:
    corral.create_policy(
        name="no fetch", action="steer", applies_to=["tool.fetch"], action_config={"replacement": 0}
    )
    ran: list[str] = []

    @client.guard
    async def fetch(url: str) -> int:
        ran.append(url)
        return 200

    assert await fetch("https://example.com") == 0
    assert ran == []


def test_errors_of_the_body_propagate(corral: Corral, client: Client) -> None:
    @client.guard
    def explode() -> None:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        explode()


def test_arguments_are_bound_to_the_signature() -> None:
    def tool(self: object, a: int, *rest: int, b: str = "x", **extra: Any) -> None: ...

    import inspect

    signature = inspect.signature(tool)
    bound = bound_arguments(signature, (object(), 1, 2, 3), {"c": True})
    assert bound == {"a": 1, "rest": [2, 3], "b": "x", "c": True}
    with pytest.raises(TypeError):
        bound_arguments(signature, (), {})
