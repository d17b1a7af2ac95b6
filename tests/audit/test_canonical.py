"""RFC 8785 canonical JSON (the examples of the RFC) and the redaction of secrets."""

from __future__ import annotations

import json
from typing import Any

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from corral.audit import canonical
from corral.audit.chain import canonical_json
from corral.audit.redact import REDACTED, redact


def test_rfc8785_section_3_2_4_example() -> None:
    # The example of RFC 8785 §3.2.4: numbers, escapes and literals in their canonical form.
    source = (
        '{"numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001], '
        '"string": "\\u20ac$\\u000F\\u000aA\'\\u0042\\u0022\\u005c\\\\\\"\\/", '
        '"literals": [null, true, false]}'
    )
    expected = (
        '{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],'
        '"string":"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}'
    )
    assert canonical_json(json.loads(source)) == expected.encode()


def test_rfc8785_section_3_2_3_sorts_keys_by_utf16_code_units() -> None:
    source = {
        "\u20ac": "Euro Sign",
        "\r": "Carriage Return",
        "\ufb33": "Hebrew Letter Dalet With Dagesh",
        "1": "One",
        "\U0001f600": "Emoji: Grinning Face",
        "\u0080": "Control",
        "\u00f6": "Latin Small Letter O With Diaeresis",
    }
    keys = list(json.loads(canonical_json(source)))
    assert keys == ["\r", "1", "\u0080", "\u00f6", "\u20ac", "\U0001f600", "\ufb33"]


def test_secret_looking_keys_are_redacted_at_every_depth() -> None:
    value = {
        "name": "kept",
        "password": "p",
        "API-Key": "k",
        "access_token": "t",
        "max_tokens": 100,
        "auth": {"type": "bearer", "credentials": {"x": 1}, "Authorization": "Bearer x"},
        "items": [{"client_secret": "s", "id": 1}],
    }
    assert redact(value) == {
        "name": "kept",
        "password": REDACTED,
        "API-Key": REDACTED,
        "access_token": REDACTED,
        "max_tokens": 100,
        "auth": {"type": "bearer", "credentials": REDACTED, "Authorization": REDACTED},
        "items": [{"client_secret": REDACTED, "id": 1}],
    }
    assert redact(None) is None


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=500, deadline=None)
@given(JSON_VALUES)
def test_the_fast_writer_matches_the_reference_package(value: Any) -> None:
    assert canonical.dumps(value) == rfc8785.dumps(value)


def test_controls_and_keys_beyond_the_basic_plane() -> None:
    value: dict[str, Any] = {
        "\U0001f600": 1,
        "\ufb33": 2,
        "x": "".join(chr(c) for c in range(0x20)) + "\u2028/",
    }
    assert canonical.dumps(value) == rfc8785.dumps(value)
    plain: dict[str, Any] = {"b": ["\x1f\u2028/é"], "a": {"z": None, "y": [True, 2**53 - 1]}}
    assert canonical.dumps(plain) == rfc8785.dumps(plain)


def test_unsafe_integers_are_refused() -> None:
    with pytest.raises(ValueError, match="I-JSON"):
        canonical.dumps({"n": 2**53})
