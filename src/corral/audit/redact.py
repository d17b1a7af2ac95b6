"""Secrets never enter the audit log: values under secret-looking keys are replaced.

Audit rows cannot be changed once written, so a secret recorded by mistake could never be
removed; redaction happens before the row is built, on every nesting level.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

REDACTED = "[REDACTED]"
# Matched against key names with `-` and `_` removed, case-insensitively.
# `token` only at the end: `access_token` is a secret, `max_tokens` a number.
_SECRET_KEY = re.compile(
    r"password|passwd|passphrase|secret|apikey|authorization|credential|privatekey|cookie|"
    r"ciphertext|pepper|signingkey|hmackey|encryptionkey|token$",
)
_MAX_DEPTH = 20


def is_secret_key(name: str) -> bool:
    return _SECRET_KEY.search(name.replace("-", "").replace("_", "").lower()) is not None


def _clean(value: Any, depth: int) -> Any:
    if depth > _MAX_DEPTH:
        return REDACTED
    if isinstance(value, Mapping):
        return {
            str(k): REDACTED if is_secret_key(str(k)) else _clean(v, depth + 1)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [_clean(item, depth + 1) for item in value]
    return value


def redact(value: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A copy of `value` with every secret-looking key's value replaced by `[REDACTED]`."""
    if value is None:
        return None
    cleaned: dict[str, Any] = _clean(value, 0)
    return cleaned
