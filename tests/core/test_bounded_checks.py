"""Bounded checks: a late check is waited for at shutdown instead of being abandoned."""

from __future__ import annotations

import asyncio

import pytest

from corral.core.bounded_checks import BoundedChecks


async def test_an_answer_in_time_is_returned() -> None:
    async def check() -> str:
        return "ok"

    assert await BoundedChecks().run(check, 1.0) == "ok"


async def test_a_late_check_keeps_running_until_drained() -> None:
    checks = BoundedChecks()
    release = asyncio.Event()
    finished: list[bool] = []

    async def slow() -> None:
        await release.wait()
        finished.append(True)

    with pytest.raises(TimeoutError):
        await checks.run(slow, 0.01)
    assert finished == []
    release.set()
    await checks.drain(5.0)
    assert finished == [True]


async def test_a_late_failure_is_not_left_unretrieved() -> None:
    checks = BoundedChecks()
    release = asyncio.Event()

    async def failing() -> None:
        await release.wait()
        raise RuntimeError("database gone")

    with pytest.raises(TimeoutError):
        await checks.run(failing, 0.01)
    release.set()
    await checks.drain(5.0)


async def test_drain_cancels_what_outlives_the_grace_period() -> None:
    checks = BoundedChecks()
    cancelled = asyncio.Event()

    async def hanging() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    with pytest.raises(TimeoutError):
        await checks.run(hanging, 0.01)
    await checks.drain(0.01)
    assert cancelled.is_set()
