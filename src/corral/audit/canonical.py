"""RFC 8785 (JCS) canonical JSON, fast for the values audit events hold.

The `rfc8785` package is the reference; this writer gives byte-identical output (a property
test checks it against the package) at a fraction of the cost, because verification
canonicalizes every event of a chain: strings are escaped by orjson (the same escapes as JCS:
`\\"`, `\\\\`, `\\b \\t \\n \\f \\r`, other controls as lowercase `\\u00xx`, nothing else), keys are
sorted by UTF-16 code units as JCS requires, and numbers other than integers are left to the
package.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
import rfc8785

# I-JSON: integers beyond ±2^53 lose precision in other languages; the package refuses them.
_MAX_SAFE_INTEGER = 2**53 - 1


def _utf16(key: str) -> bytes:
    return key.encode("utf-16-be", "surrogatepass")


_LITERALS: dict[object, bytes] = {None: b"null", True: b"true", False: b"false"}


def _write_object(value: Mapping[Any, Any], out: list[bytes]) -> None:
    out.append(b"{")
    for index, key in enumerate(sorted(value, key=_utf16)):
        if index:
            out.append(b",")
        out.append(orjson.dumps(key))
        out.append(b":")
        _write(value[key], out)
    out.append(b"}")


def _write_array(value: list[Any] | tuple[Any, ...], out: list[bytes]) -> None:
    out.append(b"[")
    for index, item in enumerate(value):
        if index:
            out.append(b",")
        _write(item, out)
    out.append(b"]")


def _write(value: Any, out: list[bytes]) -> None:
    if isinstance(value, str):
        out.append(orjson.dumps(value))
    elif value is None or isinstance(value, bool):
        out.append(_LITERALS[value])
    elif isinstance(value, int):
        if not -_MAX_SAFE_INTEGER <= value <= _MAX_SAFE_INTEGER:
            raise ValueError(f"integer {value} is outside the I-JSON range")
        out.append(str(value).encode())
    elif isinstance(value, Mapping):
        if not all(isinstance(key, str) for key in value):
            raise TypeError("object keys must be strings")
        _write_object(value, out)
    elif isinstance(value, list | tuple):
        _write_array(value, out)
    else:
        # Floats (ECMAScript number formatting) and anything unexpected: the reference decides.
        out.append(rfc8785.dumps(value))


def _plain(value: Any) -> bool:
    """Whether orjson's sorted output is already canonical: no floats, no integer outside
    I-JSON, and only ASCII keys (whose code point order is their UTF-16 order)."""
    if isinstance(value, str) or value is None or isinstance(value, bool):
        return True
    if isinstance(value, int):
        return -_MAX_SAFE_INTEGER <= value <= _MAX_SAFE_INTEGER
    if isinstance(value, dict):
        return all(
            isinstance(key, str) and key.isascii() and _plain(item) for key, item in value.items()
        )
    if isinstance(value, list):
        return all(_plain(item) for item in value)
    return False


def dumps(value: Any) -> bytes:
    """The RFC 8785 canonical JSON bytes of `value`."""
    if _plain(value):
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    out: list[bytes] = []
    _write(value, out)
    return b"".join(out)
