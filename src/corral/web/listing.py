"""What list pages share: the time-window filter, choice parameters, and the next-page link."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import orjson

from corral.core.errors import InvalidInput, NotFound
from corral.identity.access import AppScope
from corral.web.viewer import Viewer

# (value, label): the time filter of list pages, a choice rather than a date picker.
WINDOWS: tuple[tuple[str, str, timedelta], ...] = (
    ("1h", "Last hour", timedelta(hours=1)),
    ("24h", "Last 24 hours", timedelta(hours=24)),
    ("7d", "Last 7 days", timedelta(days=7)),
    ("30d", "Last 30 days", timedelta(days=30)),
)
_SHOWN_CHARS = 2000


def application_scope(viewer: Viewer) -> AppScope:
    """The application a list or detail page reads; a user of no organization has none."""
    if viewer.scope is None:
        raise NotFound("application", code="application_not_found")
    return viewer.scope


def choice(name: str, value: str, allowed: Collection[str]) -> str | None:
    """A select's value: empty means "any", anything not offered is a bad request."""
    if not value:
        return None
    if value not in allowed:
        raise InvalidInput(f"{name} is not one of the offered choices", code="invalid_filter")
    return value


def window_start(window: str, now: datetime) -> datetime | None:
    chosen = choice("window", window, [value for value, _, _ in WINDOWS])
    for value, _, length in WINDOWS:
        if value == chosen:
            return now - length
    return None


def next_page_url(path: str, filters: Mapping[str, str], cursor: str | None) -> str | None:
    """The same list with the same filters, one page further; None on the last page."""
    if cursor is None:
        return None
    kept = {key: value for key, value in filters.items() if value}
    return f"{path}?{urlencode({**kept, 'cursor': cursor})}"


def compact_json(value: Any) -> str:
    """JSON for display, cut to a readable length (the API has the whole value)."""
    text = orjson.dumps(value, default=str, option=orjson.OPT_NON_STR_KEYS).decode()
    return text if len(text) <= _SHOWN_CHARS else text[:_SHOWN_CHARS] + " …"


def pretty_json(value: Any) -> str:
    # orjson: a waterfall formats every span's attributes, and json's indenting encoder is
    # pure Python (about ten times slower).
    options = orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS
    return orjson.dumps(value, default=str, option=options).decode()
