"""The warm-up runs a whole agent from memory: no sidecar, no socket, no network."""

from __future__ import annotations

import socket

import pytest

from corral.runtime.warm_up import warm_up


async def test_the_warm_up_needs_nothing_outside_the_process(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the warm-up opened a socket")

    monkeypatch.setattr(socket, "socket", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)

    await warm_up()
