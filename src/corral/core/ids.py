"""Prefixed, time-ordered identifiers such as `app_01jq3v8k2m…`.

The body is a UUIDv7 in lowercase Crockford base32: it sorts by creation time, which makes
keyset pagination on the primary key return rows in creation order.
"""

from __future__ import annotations

import re
from datetime import datetime

import uuid_utils

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"
_BODY_LENGTH = 26
_PATTERN = re.compile(rf"^[a-z]{{1,8}}_[{_ALPHABET}]{{{_BODY_LENGTH}}}$")


# Two base32 digits per 10 bits: half the steps of a digit-by-digit loop (ingest makes an id
# per span).
_PAIRS = [a + b for a in _ALPHABET for b in _ALPHABET]
_PAIR_SHIFTS = tuple(range(5 * _BODY_LENGTH - 10, -1, -10))


def _encode(value: int) -> str:
    return "".join([_PAIRS[(value >> shift) & 1023] for shift in _PAIR_SHIFTS])


def new_id(prefix: str) -> str:
    """A new identifier with the given prefix (`org`, `app`, `usr`, …)."""
    return f"{prefix}_{_encode(uuid_utils.uuid7().int)}"


def earliest_id(prefix: str, moment: datetime) -> str:
    """The smallest id `new_id(prefix)` can make at `moment`: a bound on the primary key that
    selects the rows made since then (UUIDv7 starts with the Unix time in milliseconds)."""
    milliseconds = max(0, int(moment.timestamp() * 1000))
    return f"{prefix}_{_encode(milliseconds << 80)}"


def is_well_formed(value: str, prefix: str | None = None) -> bool:
    """Whether `value` has the shape of an id (optionally with this prefix)."""
    if not _PATTERN.match(value):
        return False
    return prefix is None or value.startswith(prefix + "_")
