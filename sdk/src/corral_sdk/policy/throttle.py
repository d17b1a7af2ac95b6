"""Token buckets for `throttle` policies, behind a store the server can back with Redis."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class ThrottleVerdict:
    """Whether a call got a token; if not, how long until one is available."""

    admitted: bool
    retry_after_seconds: float | None = None


ADMITTED = ThrottleVerdict(admitted=True)


class ThrottleStore(Protocol):
    """Holds one token bucket per key.

    A bucket holds at most `max_calls` tokens, starts full and refills at
    `max_calls / window_seconds` tokens per second; each admitted call takes one token.
    """

    def take(self, key: str, max_calls: int, window_seconds: float) -> ThrottleVerdict:
        """Take a token from the bucket `key`, or say when the next one is due."""
        ...


class InMemoryThrottleStore:
    """Buckets in this process; thread-safe; `clock` returns seconds and never goes back."""

    def __init__(
        self, clock: Callable[[], float] = time.monotonic, max_buckets: int = 100_000
    ) -> None:
        self._clock = clock
        self._max_buckets = max_buckets
        self._buckets: dict[str, tuple[float, float, float]] = {}
        self._lock = threading.Lock()

    def take(self, key: str, max_calls: int, window_seconds: float) -> ThrottleVerdict:
        """Refill the bucket for the time elapsed, then take a token if there is one."""
        rate = max_calls / window_seconds
        with self._lock:
            now = self._clock()
            state = self._buckets.get(key)
            if state is None:
                tokens = float(max_calls)
            else:
                tokens, updated, _ = state
                tokens = min(float(max_calls), tokens + (now - updated) * rate)
            if tokens >= 1.0:
                self._store(key, (tokens - 1.0, now, now + (max_calls - tokens + 1.0) / rate))
                return ADMITTED
            self._store(key, (tokens, now, now + (max_calls - tokens) / rate))
            return ThrottleVerdict(admitted=False, retry_after_seconds=(1.0 - tokens) / rate)

    def __len__(self) -> int:
        """How many buckets are held."""
        return len(self._buckets)

    def _store(self, key: str, state: tuple[float, float, float]) -> None:
        self._buckets[key] = state
        if len(self._buckets) > self._max_buckets:
            self._prune(state[1])

    def _prune(self, now: float) -> None:
        # A bucket that has refilled completely behaves exactly like a missing one.
        full = [key for key, (_, _, full_at) in self._buckets.items() if full_at <= now]
        for key in full:
            del self._buckets[key]
        # Still over the bound: drop the buckets that fill soonest, the least information lost.
        excess = len(self._buckets) - self._max_buckets
        if excess > 0:
            for key in sorted(self._buckets, key=lambda k: self._buckets[k][2])[:excess]:
                del self._buckets[key]
