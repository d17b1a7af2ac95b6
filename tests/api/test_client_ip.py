"""Client addresses: X-Forwarded-For is trusted only for the configured number of proxy hops."""

from __future__ import annotations

import pytest
from starlette.types import Scope

from corral.api.middleware import client_ip


def _scope(forwarded: str | None, peer: str = "10.0.0.9") -> Scope:
    headers = [(b"x-forwarded-for", forwarded.encode())] if forwarded is not None else []
    return {"type": "http", "client": (peer, 5555), "headers": headers}


@pytest.mark.parametrize(
    ("forwarded", "hops", "expected"),
    [
        (None, 0, "10.0.0.9"),
        ("6.6.6.6", 0, "10.0.0.9"),  # no trusted proxy: a client cannot spoof its address
        ("203.0.113.7", 1, "203.0.113.7"),
        ("6.6.6.6, 203.0.113.7", 1, "203.0.113.7"),  # the spoofed left entry is ignored
        ("6.6.6.6, 203.0.113.7, 10.0.0.2", 2, "203.0.113.7"),
        ("203.0.113.7", 3, "203.0.113.7"),
        ("", 1, "10.0.0.9"),
        (None, 1, "10.0.0.9"),
    ],
)
def test_client_ip(forwarded: str | None, hops: int, expected: str) -> None:
    assert client_ip(_scope(forwarded), hops) == expected
