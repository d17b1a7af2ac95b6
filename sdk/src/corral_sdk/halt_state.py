"""The active halts the client enforces, kept in step with the server by a poll every half second.

Fail-static like the policy bundle (`PolledState`): the last answer stays in force while the
server is away (a halt made meanwhile is learned on the next answer).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from corral_sdk.errors import CorralError
from corral_sdk.halts import HaltRecord
from corral_sdk.halts_http import FetchedHalts, HaltFetcher
from corral_sdk.polled_state import PolledState

logger = logging.getLogger("corral_sdk")


class HaltState(PolledState[FetchedHalts]):
    def __init__(self, fetcher: HaltFetcher, *, clock: Callable[[], float]) -> None:
        super().__init__(clock=clock)
        self._fetcher = fetcher
        self.halts: tuple[HaltRecord, ...] = ()
        self.revision: str | None = None
        # Set whenever an answer changed the halts: tests and callers can wait on it.
        self.changed = threading.Condition()

    def _fetch(self) -> FetchedHalts:
        return self._fetcher.fetch(self.revision)

    def _apply(self, answer: FetchedHalts) -> bool:
        if answer.halts is None:
            return False
        self.halts = answer.halts
        self.revision = answer.revision
        with self.changed:
            self.changed.notify_all()
        return True

    def _report_failure(self, error: CorralError) -> None:
        logger.warning("corral: could not refresh the active halts (%s)", error.message)
