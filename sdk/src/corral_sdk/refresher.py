"""The background thread that keeps the policy bundle fresh.

It revalidates every `interval` seconds (±20% jitter, so a fleet of agents started together does
not poll in step) and backs off exponentially while the server fails, up to `max_delay`. Each
poll is a conditional request, so an unchanged bundle costs a 304 with no body.
"""

from __future__ import annotations

import logging
import secrets
import threading
from typing import Protocol

from corral_sdk.errors import CorralError

logger = logging.getLogger("corral_sdk")

_JITTER = 0.2
_MAX_BACKOFF_DOUBLINGS = 8


def next_delay(interval: float, failures: int, max_delay: float, jitter: float) -> float:
    """Seconds until the next poll after `failures` failures in a row; `jitter` is in [-1, 1]."""
    backoff = interval * (1 << min(failures, _MAX_BACKOFF_DOUBLINGS))
    base = min(backoff, max(interval, max_delay))
    return max(0.0, base * (1.0 + _JITTER * jitter))


class Refreshable(Protocol):
    """What a refresher polls: the policy bundle, or the active halts."""

    def refresh(self) -> bool: ...


class Refresher:
    """A daemon thread polling `state.refresh()` until `stop()`."""

    def __init__(
        self,
        state: Refreshable,
        *,
        interval: float,
        max_delay: float = 60.0,
        name: str = "corral-bundle-refresh",
    ) -> None:
        self._state = state
        self._interval = interval
        self._max_delay = max_delay
        self._stopping = threading.Event()
        self._random = secrets.SystemRandom()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float) -> None:
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        failures = 0
        while not self._stopping.is_set():
            try:
                self._state.refresh()
                failures = 0
            except CorralError:
                # Already logged by the state when the failure started.
                failures += 1
            except Exception:
                # A bug must not end the refresh for the life of the process.
                logger.exception("corral: the policy bundle refresh failed")
                failures += 1
            jitter = self._random.uniform(-1.0, 1.0)
            self._stopping.wait(next_delay(self._interval, failures, self._max_delay, jitter))
