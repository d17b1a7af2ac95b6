"""The policy set the client enforces, kept in step with the server's bundle.

Fail-static: once a bundle has compiled, it stays in force until a newer one compiles, however
long the server is away; how old it is (`age`) lets the client fail closed instead when asked.
A new bundle that does not compile leaves the previous set in force (logged once per revision);
a first bundle that does not compile is enforced anyway, its invalid policies failing closed
(an invalid block blocks every call it covers), as `PolicySet(strict=False)` does.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable

from corral_sdk.bundle import Bundle
from corral_sdk.bundle_http import BundleFetcher
from corral_sdk.errors import AuthenticationFailed, CorralError
from corral_sdk.policy import PolicySet, PolicySetError, ThrottleStore

logger = logging.getLogger("corral_sdk")


class PolicyState:
    """The enforced `PolicySet`, its revision, and when the server last answered."""

    def __init__(
        self,
        fetcher: BundleFetcher,
        *,
        clock: Callable[[], float],
        throttle_store: ThrottleStore,
    ) -> None:
        self._fetcher = fetcher
        self._clock = clock
        # One store for every revision, so a policy change does not refill the buckets.
        self._throttle_store = throttle_store
        self._lock = threading.Lock()
        self.policy_set: PolicySet | None = None
        self.enforced_revision: str | None = None
        # The revision last received, enforced or refused: sent back as If-None-Match so that
        # a bundle that did not compile is not downloaded (and reported) again and again.
        self._seen_revision: str | None = None
        self.last_contact: float | None = None
        self.attempted = False
        self.last_error: CorralError | None = None

    def age(self) -> float | None:
        """Seconds since the server last answered a bundle request, or None if it never did."""
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
            # The outcome, an error included, is kept in `last_error` for the caller to read.
            with contextlib.suppress(CorralError):
                self._refresh_locked()

    def _attempted_locked(self) -> bool:
        # Read again under the lock: another thread may have fetched while this one waited.
        return self.attempted

    def refresh(self) -> bool:
        """Revalidate the bundle now; whether a new policy set came into force.

        Raises `ServerUnreachable` or `AuthenticationFailed` (also kept in `last_error`).
        """
        with self._lock:
            return self._refresh_locked()

    def _refresh_locked(self) -> bool:
        # `attempted` turns true only once the outcome is in place, so a check that reads it
        # without the lock never sees "tried" before the first bundle is installed.
        try:
            try:
                fetched = self._fetcher.fetch(self._seen_revision)
            except CorralError as error:
                self._failed(error)
                raise
            if self.last_error is not None:
                logger.info("corral: the policy bundle is reachable again")
            self.last_error = None
            self.last_contact = self._clock()
            return fetched.bundle is not None and self.install(fetched.bundle)
        finally:
            self.attempted = True

    def _failed(self, error: CorralError) -> None:
        # Report a failure once when it starts (and when it changes), not on every retry.
        if self.last_error is None or type(self.last_error) is not type(error):
            level = logging.ERROR if isinstance(error, AuthenticationFailed) else logging.WARNING
            logger.log(
                level,
                "corral: could not refresh the policy bundle (%s); %s",
                error.message,
                "still enforcing revision " + self.enforced_revision
                if self.enforced_revision
                else "no bundle yet",
            )
        self.last_error = error

    def install(self, bundle: Bundle) -> bool:
        """Compile `bundle` and enforce it; whether it came into force."""
        self._seen_revision = bundle.revision
        try:
            policy_set = bundle.compile(self._throttle_store, strict=True)
        except PolicySetError as error:
            problems = "; ".join(str(problem) for problem in error.problems)
            if self.policy_set is not None:
                logger.warning(
                    "corral: bundle revision %s has invalid policies (%s); "
                    "still enforcing revision %s",
                    bundle.revision,
                    problems,
                    self.enforced_revision,
                )
                return False
            logger.warning(
                "corral: bundle revision %s has invalid policies (%s); they fail closed",
                bundle.revision,
                problems,
            )
            policy_set = bundle.compile(self._throttle_store, strict=False)
        self.policy_set = policy_set
        self.enforced_revision = bundle.revision
        logger.debug("corral: enforcing bundle revision %s", bundle.revision)
        return True
