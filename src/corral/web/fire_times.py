"""A schedule's next fire times as the pages show them: on the zone's wall clock, or why there
are none; found once per expression and zone and kept until they pass."""

from __future__ import annotations

import functools
import itertools
from datetime import datetime
from zoneinfo import ZoneInfo

from corral.core.clock import utcnow
from corral.runs import cron

# Fire times ahead per (expression, zone): finding them parses the expression (about a
# millisecond each, and a list shows fifty), and they stay true until they pass.
_AHEAD: dict[tuple[str, str], tuple[datetime, ...]] = {}
_AHEAD_SPAN = 20
_AHEAD_KEYS = 4096


def _upcoming(expression: str, zone: ZoneInfo, now: datetime, count: int) -> list[datetime]:
    """The first `count` fire times after `now`."""
    key = (expression, zone.key)
    known = _AHEAD.get(key)
    if known is not None:
        ahead = [at for at in known if at > now]
        # Fewer than the span known means the expression stops firing within the horizon.
        if len(ahead) >= count or len(known) < _AHEAD_SPAN:
            return ahead[:count]
    fresh = tuple(itertools.islice(cron.fire_times(expression, zone, now), _AHEAD_SPAN))
    if len(_AHEAD) >= _AHEAD_KEYS:
        _AHEAD.clear()
    _AHEAD[key] = fresh
    return list(fresh[:count])


# Checking parses with croniter too; expressions repeat from one list to the next.
_checked_cron = functools.lru_cache(maxsize=4096)(cron.check_cron)


def fire_times_shown(expression: str, timezone: str, count: int) -> tuple[list[str], str | None]:
    """The next fire times on the zone's wall clock, or why there are none."""
    try:
        normalized = _checked_cron(expression)
        zone = cron.check_timezone(timezone.strip())
    except ValueError as exc:
        return [], str(exc)
    fires = _upcoming(normalized, zone, utcnow(), count)
    if not fires:
        return [], f"{normalized!r} never fires in the coming years"
    return [at.astimezone(zone).strftime("%a %Y-%m-%d %H:%M %Z") for at in fires], None
