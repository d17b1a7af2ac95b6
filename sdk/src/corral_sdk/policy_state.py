"""The policy set the client enforces, kept in step with the server's bundle.

Fail-static: once a bundle has compiled, it stays in force until a newer one compiles, however
long the server is away; how old it is (`age`) lets the client fail closed instead when asked.
A new bundle that does not compile leaves the previous set in force (logged once per revision);
a first bundle that does not compile is enforced anyway, its invalid policies failing closed
(an invalid block blocks every call it covers), as `PolicySet(strict=False)` does.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from corral_sdk.bundle import Bundle
from corral_sdk.bundle_http import BundleFetcher, Fetched
from corral_sdk.errors import AuthenticationFailed, CorralError
from corral_sdk.policy import PolicySet, PolicySetError, ThrottleStore
from corral_sdk.polled_state import PolledState

logger = logging.getLogger("corral_sdk")


class PolicyState(PolledState[Fetched]):
    """The enforced `PolicySet`, its revision, and when the server last answered."""

    def __init__(
        self,
        fetcher: BundleFetcher,
        *,
        clock: Callable[[], float],
        throttle_store: ThrottleStore,
    ) -> None:
        super().__init__(clock=clock)
        self._fetcher = fetcher
        # One store for every revision, so a policy change does not refill the buckets.
        self._throttle_store = throttle_store
        self.policy_set: PolicySet | None = None
        self.enforced_revision: str | None = None
        # The revision last received, enforced or refused: sent back as If-None-Match so that
        # a bundle that did not compile is not downloaded (and reported) again and again.
        self._seen_revision: str | None = None

    def _fetch(self) -> Fetched:
        return self._fetcher.fetch(self._seen_revision)

    def _apply(self, answer: Fetched) -> bool:
        return answer.bundle is not None and self.install(answer.bundle)

    def _report_failure(self, error: CorralError) -> None:
        level = logging.ERROR if isinstance(error, AuthenticationFailed) else logging.WARNING
        logger.log(
            level,
            "corral: could not refresh the policy bundle (%s); %s",
            error.message,
            "still enforcing revision " + self.enforced_revision
            if self.enforced_revision
            else "no bundle yet",
        )

    def _report_recovery(self) -> None:
        logger.info("corral: the policy bundle is reachable again")

    def load(self, bundle: Bundle) -> bool:
        """Enforce a bundle obtained some other way (a file, a test); the server still refreshes
        it. Whether it came into force."""
        with self._lock:
            try:
                return self.install(bundle)
            finally:
                self.attempted = True

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
