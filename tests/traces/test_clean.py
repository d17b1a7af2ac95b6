"""`clean`: what PostgreSQL text cannot hold is replaced, everything else is kept as sent."""

from __future__ import annotations

from typing import Any

import pytest

from corral.traces.ingest import clean


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"a": "x\x00y"}, {"a": "x\ufffdy"}),
        ({"a": ["ok", {"b": "lone \ud800"}]}, {"a": ["ok", {"b": "lone ?"}]}),
        ({"key\x00": 1}, {"key\ufffd": 1}),
        # Beyond 64 bits orjson refuses the value; the walk keeps it.
        ({"big": 2**70, "t": "a\x00"}, {"big": 2**70, "t": "a\ufffd"}),
        # The escape sequence as text is no NUL: kept as it is (after a slower check).
        ({"a": "\\u0000"}, {"a": "\\u0000"}),
        ({"a": "héllo ✓", "n": [1, 2.5, None, True]}, {"a": "héllo ✓", "n": [1, 2.5, None, True]}),
        ([], []),
        ("plain", "plain"),
    ],
)
def test_clean(value: Any, expected: Any) -> None:
    assert clean(value) == expected
