"""Prefixed, time-ordered identifiers such as `app_01jq3v8k2m…`.

The body is a UUIDv7 in lowercase Crockford base32: it sorts by creation time, which makes
keyset pagination on the primary key return rows in creation order.
"""

from __future__ import annotations

import re

import uuid_utils

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"
_BODY_LENGTH = 26
_PATTERN = re.compile(rf"^[a-z]{{1,8}}_[{_ALPHABET}]{{{_BODY_LENGTH}}}$")


def _encode(value: int) -> str:
    chars = []
    for _ in range(_BODY_LENGTH):
        chars.append(_ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def new_id(prefix: str) -> str:
    """A new identifier with the given prefix (`org`, `app`, `usr`, …)."""
    return f"{prefix}_{_encode(uuid_utils.uuid7().int)}"


def is_well_formed(value: str, prefix: str | None = None) -> bool:
    """Whether `value` has the shape of an id (optionally with this prefix)."""
    if not _PATTERN.match(value):
        return False
    return prefix is None or value.startswith(prefix + "_")
