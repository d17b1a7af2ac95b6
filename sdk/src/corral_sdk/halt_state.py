"""The active halts the client enforces, kept in step with the server by a poll every half second.

Fail-static like the policy bundle: the last answer stays in force while the server is away
(a halt made meanwhile is learned on the next answer); `age` lets the client fail closed.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable

from corral_sdk.errors import CorralError
from corral_sdk.halts import HaltRecord
from corral_sdk.halts_http import HaltFetcher

logger = logging.getLogger("corral_sdk")


class HaltState:
    def __init__(self, fetcher: HaltFetcher, *, clock: Callable[[], float]) -> None:
        self._fetcher = fetcher
        self._clock = clock
        self._lock = threading.Lock()
        self.halts: tuple[HaltRecord, ...] = ()
        self.revision: str | None = None
        self.last_contact: float | None = None
        self.attempted = False
        self.last_error: CorralError | None = None
        # Set whenever an answer changed the halts: tests and callers can wait on it.
        self.changed = threading.Condition()

    def age(self) -> float | None:
        if self.last_contact is None:
            return None
        return self._clock() - self.last_contact

    def ensure_attempted(self) -> None:
        if self.attempted:
            return
        with self._lock:
            if self._attempted_locked():
                return
            with contextlib.suppress(CorralError):
                self._refresh_locked()

    def _attempted_locked(self) -> bool:
        # Read again under the lock: another thread may have fetched while this one waited.
        return self.attempted

    def refresh(self) -> bool:
        """Ask the server now; whether the active halts changed."""
        with self._lock:
            return self._refresh_locked()

    def _refresh_locked(self) -> bool:
        try:
            try:
                fetched = self._fetcher.fetch(self.revision)
            except CorralError as error:
                if self.last_error is None or type(self.last_error) is not type(error):
                    logger.warning("corral: could not refresh the active halts (%s)", error.message)
                self.last_error = error
                raise
            self.last_error = None
            self.last_contact = self._clock()
            if fetched.halts is None:
                return False
            self.halts = fetched.halts
            self.revision = fetched.revision
            with self.changed:
                self.changed.notify_all()
            return True
        finally:
            self.attempted = True
