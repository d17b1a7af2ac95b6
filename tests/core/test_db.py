"""Engine settings that protect secrets and keep the tiers alike."""

from __future__ import annotations

import pytest

from corral.core.db import create_engine


@pytest.mark.parametrize(
    "url", ["sqlite+aiosqlite:///:memory:", "postgresql+psycopg://nobody@127.0.0.1:1/none"]
)
async def test_bound_parameters_never_reach_error_messages(url: str) -> None:
    """Password hashes and tokens are bound parameters; errors must not print them."""
    engine = create_engine(url)
    try:
        assert engine.sync_engine.hide_parameters is True
    finally:
        await engine.dispose()
