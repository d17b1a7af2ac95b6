"""The activation: `args` parsed from `corral.tool.args`, `now` always a UTC timestamp."""

from __future__ import annotations

from datetime import UTC, datetime
from types import MappingProxyType

import pytest

from corral_sdk.policy import Activation, parse_args


@pytest.mark.parametrize(
    ("raw", "parsed"),
    [
        ('{"command": "ls", "n": 2}', {"command": "ls", "n": 2}),
        (b'{"a": [1, null]}', {"a": [1, None]}),
        ("{not json", {}),
        ("[1, 2]", {}),
        ('"text"', {}),
        ("[" * 100_000, {}),
        (42, {}),
    ],
)
def test_args_are_the_json_object_or_empty(raw: object, parsed: dict[str, object]) -> None:
    assert parse_args({"corral.tool.args": raw}) == parsed


def test_args_are_empty_without_the_attribute() -> None:
    assert parse_args({}) == {}


def test_integers_beyond_64_bits_become_doubles() -> None:
    args = parse_args({"corral.tool.args": '{"big": 100000000000000000000, "small": 7}'})
    assert args == {"big": 1e20, "small": 7}
    assert isinstance(args["small"], int)


def test_args_are_parsed_only_when_used() -> None:
    call = Activation("tool.x", {"corral.tool.args": '{"a": 1}'})
    assert call._args is None
    assert call.args == {"a": 1}


def test_a_naive_now_is_read_as_utc() -> None:
    # Deliberately naive: the input under test.
    call = Activation("tool.x", {}, datetime(2025, 3, 7, 14, 30))  # noqa: DTZ001
    assert call.now == datetime(2025, 3, 7, 14, 30, tzinfo=UTC)


def test_attrs_of_any_mapping_are_copied_into_a_dict() -> None:
    call = Activation("tool.x", MappingProxyType({"k": "v"}))
    assert call.attrs == {"k": "v"}
    assert type(call.attrs) is dict
