"""Arguments as approvers see them: credentials and PII replaced before they are stored."""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

from corral.telemetry.redact import Redactor

REDACTED = "[REDACTED]"
MAX_DEPTH = 20
# Values under keys like these are secrets whatever they look like.
_SECRET_KEY = re.compile(
    r"(pass(word|wd)?|secret|token|api[_-]?key|authorization|credential|private[_-]?key|cookie)",
    re.IGNORECASE,
)


def redact_arguments(redactor: Redactor, value: Any, depth: int = 0) -> Any:
    counts: Counter[str] = Counter()
    if depth > MAX_DEPTH:
        return REDACTED
    if isinstance(value, dict):
        return {
            str(key): REDACTED
            if _SECRET_KEY.search(str(key))
            else redact_arguments(redactor, item, depth + 1)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [redact_arguments(redactor, item, depth + 1) for item in value]
    if isinstance(value, str):
        redacted = redactor.redact_text(value, counts)
        return REDACTED if redacted is None else redacted
    return value
