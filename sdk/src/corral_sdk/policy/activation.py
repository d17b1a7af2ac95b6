"""What a policy expression sees: `name`, `attrs`, `args` and `now` for one call."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

from corral_sdk.policy.values import TOOL_ARGS_ATTR, Attributes

VARIABLES = frozenset({"name", "attrs", "args", "now"})
_VARIABLE_TOKEN = re.compile(r"(?<!\w)(name|attrs|args|now)(?!\w)")

_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1


def _json_int(text: str) -> int | float:
    # CEL ints are 64-bit; a larger literal would make every expression touching `args` fail,
    # so it is read as the number it is, a double.
    value = int(text)
    return value if _INT64_MIN <= value <= _INT64_MAX else float(value)


# One decoder for every call: `json.loads` with a hook would build a new one each time.
_DECODER = json.JSONDecoder(parse_int=_json_int)


def parse_args(attrs: Attributes) -> dict[str, Any]:
    """The tool arguments from the `corral.tool.args` JSON attribute; empty unless a JSON object."""
    raw = attrs.get(TOOL_ARGS_ATTR)
    if isinstance(raw, bytes):
        try:
            raw = raw.decode()
        except UnicodeDecodeError:
            return {}
    if not isinstance(raw, str):
        return {}
    try:
        parsed = _DECODER.decode(raw)
    except (ValueError, RecursionError):
        return {}
    return parsed if isinstance(parsed, dict) else {}


class Activation:
    """The variables of one evaluation; engines cache their converted form on it."""

    __slots__ = ("_args", "args_from_attrs", "attrs", "bound", "name", "now", "used")

    def __init__(
        self,
        name: str,
        attrs: Attributes,
        now: datetime | None = None,
        args: dict[str, Any] | None = None,
        used: frozenset[str] = VARIABLES,
    ) -> None:
        self.name = name
        # Engines convert plain dicts natively; any other mapping is copied once here.
        self.attrs: dict[str, Any] = attrs if isinstance(attrs, dict) else dict(attrs)
        if now is None:
            now = datetime.now(UTC)
        elif now.tzinfo is None:
            # A naive time would be read differently by each engine; CEL timestamps are UTC.
            now = now.replace(tzinfo=UTC)
        self.now = now
        self._args = args
        self.args_from_attrs = args is None
        # The variables the programs evaluated on this activation can reference: the others are
        # neither parsed, scanned nor converted.
        self.used = used
        # Per engine, the activation converted to that engine's native form, built on first use
        # and shared by every policy evaluated for this call.
        self.bound: dict[str, object] = {}

    @property
    def args(self) -> dict[str, Any]:
        """The parsed tool arguments, parsed on first use."""
        if self._args is None:
            self._args = parse_args(self.attrs)
        return self._args

    def variables(self) -> dict[str, Any]:
        """The CEL variables in `used`, as plain Python values."""
        if self.used is VARIABLES:
            return {"name": self.name, "attrs": self.attrs, "args": self.args, "now": self.now}
        found: dict[str, Any] = {}
        if "name" in self.used:
            found["name"] = self.name
        if "attrs" in self.used:
            found["attrs"] = self.attrs
        if "args" in self.used:
            found["args"] = self.args
        if "now" in self.used:
            found["now"] = self.now
        return found


def referenced_variables(source: str) -> frozenset[str]:
    """The CEL variables an expression may reference, read from its text.

    CEL can only reach a variable by naming it, so this over-approximates safely: a name inside
    a string literal or bound by a macro counts too.
    """
    return frozenset(_VARIABLE_TOKEN.findall(source))
