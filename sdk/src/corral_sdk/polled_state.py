"""What the client keeps in step with the server by polling: the policy bundle and the halts.

Fail-static: the last answer stays in force for as long as the server is away; `age` says how
old it is, so that a client failing closed can refuse instead. A failure is reported once when
it starts (and again when it changes), never on every retry.
"""

from __future__ import annotations

import contextlib
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Generic, TypeVar

from corral_sdk.errors import CorralError

Answer = TypeVar("Answer")


class PolledState(ABC, Generic[Answer]):
    def __init__(self, *, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self.last_contact: float | None = None
        self.attempted = False
        self.last_error: CorralError | None = None

    def age(self) -> float | None:
        """Seconds since the server last answered, or None if it never did."""
        if self.last_contact is None:
            return None
        return self._clock() - self.last_contact

    def ensure_attempted(self) -> None:
        """Fetch once if no fetch was ever tried; the outcome is in `last_error`."""
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
        """Ask the server now; whether what is enforced changed. Raises the `CorralError` of a
        failed request (also kept in `last_error`)."""
        with self._lock:
            return self._refresh_locked()

    def _refresh_locked(self) -> bool:
        # `attempted` turns true only once the outcome is in place, so a check that reads it
        # without the lock never sees "tried" before the first answer is installed.
        try:
            try:
                answer = self._fetch()
            except CorralError as error:
                if self.last_error is None or type(self.last_error) is not type(error):
                    self._report_failure(error)
                self.last_error = error
                raise
            if self.last_error is not None:
                self._report_recovery()
            self.last_error = None
            self.last_contact = self._clock()
            return self._apply(answer)
        finally:
            self.attempted = True

    @abstractmethod
    def _fetch(self) -> Answer: ...

    @abstractmethod
    def _apply(self, answer: Answer) -> bool:
        """Install an answer; whether what is enforced changed."""

    @abstractmethod
    def _report_failure(self, error: CorralError) -> None: ...

    def _report_recovery(self) -> None:
        """Called when the server answers again after a failure."""
