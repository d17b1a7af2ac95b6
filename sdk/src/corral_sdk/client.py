"""`Client`: decide tool calls in-process with the application's policy bundle, and trace them.

Decisions never leave the process: the client holds the bundle compiled as a `PolicySet` and a
background thread revalidates it with `If-None-Match`. Throttle buckets live in this process, so
a throttle of 10 calls per minute allows 10 per minute per process (the decision API shares
buckets across replicas through Redis; the SDK does not).

Failure modes. Fail-static (the default): the last bundle that compiled stays in force for as
long as the server is away. `fail_closed=True`: a check raises `ServerUnreachable` when the
bundle is older than `max_staleness_seconds`, or was never received. Until the first bundle
arrives with `fail_closed=False`, calls are allowed and one warning is logged. A refused key
raises `AuthenticationFailed` as long as no bundle was ever received.

Halts. A second thread polls the application's active halts every `halt_poll_interval_seconds`
(0.5 s by default, so a halt is learned within about 0.6 s; an unchanged set is a 304), and
every check, guarded call and model call raises `Halted` before any policy when a halt covers
its application, agent, end-user or model. Fail-static as well: the last answer stays in force
while the server is away.

Approvals. A call a `require_approval` policy holds is sent to `POST /api/approvals` and the
client waits for people to answer (see `corral_sdk.approvals`): the call runs once approved,
raises `ApprovalDenied` when denied, and on timeout follows the policy's `on_timeout`
(`ApprovalTimeout` by default). Coroutines wait in a worker thread, never on the event loop.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AbstractContextManager
from types import TracebackType
from typing import Any, TypeVar, cast, overload

from opentelemetry.sdk.trace.export import SpanExporter
from opentelemetry.trace import Span

from corral_sdk.approvals import ApprovalRequester, PendingApproval
from corral_sdk.bundle import parse_bundle
from corral_sdk.bundle_http import BundleFetcher
from corral_sdk.call import ProposedCall, proposed_call
from corral_sdk.end_user import current_end_user, end_user_scope
from corral_sdk.errors import CorralError
from corral_sdk.gatekeeper import Gatekeeper
from corral_sdk.guard import P, make_guard
from corral_sdk.halt_state import HaltState
from corral_sdk.halts_http import HaltFetcher
from corral_sdk.model_call import ModelCall, model_call_attributes
from corral_sdk.policy import Action, Decision, InMemoryThrottleStore, PolicySet
from corral_sdk.policy_state import PolicyState
from corral_sdk.refresher import Refresher
from corral_sdk.spans import SpanRecorder, decision_attributes, mark_failed

R = TypeVar("R")


class Client:
    """A connection to Corral for one agent process. Thread-safe; use one per process."""

    def __init__(
        self,
        api_key: str,
        endpoint: str = "http://127.0.0.1:4318",
        *,
        agent: str | None = None,
        fail_closed: bool = False,
        max_staleness_seconds: float = 300.0,
        refresh_interval_seconds: float = 5.0,
        halt_poll_interval_seconds: float = 0.5,
        export_spans: bool = True,
        timeout_seconds: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        span_exporter: SpanExporter | None = None,
        approval_timeout_seconds: float | None = None,
        on_approval_requested: Callable[[PendingApproval], None] | None = None,
    ) -> None:
        """`approval_timeout_seconds`: how long a call held for approval waits (None: until
        the request expires on the server); `on_approval_requested` is told of each request,
        e.g. to show a person where to approve it."""
        if not isinstance(api_key, str) or not api_key.strip():
            raise ValueError("api_key must be a non-empty string")
        if (
            min(
                max_staleness_seconds,
                refresh_interval_seconds,
                halt_poll_interval_seconds,
                timeout_seconds,
            )
            <= 0
        ):
            raise ValueError("durations must be greater than 0")
        self.endpoint = endpoint.rstrip("/")
        self.agent = agent
        self.fail_closed = fail_closed
        self.max_staleness_seconds = max_staleness_seconds
        self.refresh_interval_seconds = refresh_interval_seconds
        self.halt_poll_interval_seconds = halt_poll_interval_seconds
        self.timeout_seconds = timeout_seconds
        self.approval_timeout_seconds = approval_timeout_seconds
        self._approvals = ApprovalRequester(
            api_key,
            self.endpoint,
            timeout_seconds=timeout_seconds,
            on_requested=on_approval_requested,
        )
        self._fetcher = BundleFetcher(api_key, self.endpoint, timeout_seconds=timeout_seconds)
        self._state = PolicyState(
            self._fetcher, clock=clock, throttle_store=InMemoryThrottleStore()
        )
        self._halt_fetcher = HaltFetcher(api_key, self.endpoint, timeout_seconds=timeout_seconds)
        self._halts = HaltState(self._halt_fetcher, clock=clock)
        self._spans = SpanRecorder(
            api_key,
            self.endpoint,
            enabled=export_spans,
            timeout_seconds=timeout_seconds,
            service_name=agent,
            exporter=span_exporter,
        )
        self._lifecycle = threading.Lock()
        self._refresher: Refresher | None = None
        self._halt_refresher: Refresher | None = None
        self._closed = False
        self._gate = Gatekeeper(
            policies=self._state,
            halts=self._halts,
            approvals=self._approvals,
            fail_closed=fail_closed,
            max_staleness_seconds=max_staleness_seconds,
            approval_timeout_seconds=approval_timeout_seconds,
        )

    # Lifecycle

    def start(self) -> Client:
        """Start the background refresh (the first check does it too). Returns immediately."""
        with self._lifecycle:
            if self._closed:
                raise CorralError("the client is closed")
            if self._refresher is None:
                self._refresher = Refresher(self._state, interval=self.refresh_interval_seconds)
                self._refresher.start()
                self._halt_refresher = Refresher(
                    self._halts,
                    interval=self.halt_poll_interval_seconds,
                    max_delay=max(self.halt_poll_interval_seconds, 10.0),
                    name="corral-halts-poll",
                )
                self._halt_refresher.start()
        return self

    def close(self) -> None:
        """Stop the refresh, export the spans still buffered, release the connections."""
        with self._lifecycle:
            if self._closed:
                return
            self._closed = True
            refresher, self._refresher = self._refresher, None
            halt_refresher, self._halt_refresher = self._halt_refresher, None
        for thread in (refresher, halt_refresher):
            if thread is not None:
                thread.stop(self.timeout_seconds + 1.0)
        self._spans.shutdown()
        self._fetcher.close()
        self._halt_fetcher.close()
        self._approvals.close()

    def __enter__(self) -> Client:
        return self.start()

    def __exit__(
        self,
        error_type: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def refresh(self) -> bool:
        """Revalidate the bundle now; whether new policies came into force.

        Raises `ServerUnreachable` or `AuthenticationFailed` when the server cannot answer.
        """
        return self._state.refresh()

    def load_bundle(self, document: Mapping[str, Any]) -> bool:
        """Enforce a bundle document (as `GET /api/policies/bundle` answers it) without asking
        the server, e.g. one shipped with the agent; whether it came into force."""
        return self._state.load(parse_bundle(document))

    def flush(self, timeout_seconds: float | None = None) -> bool:
        """Export the finished spans now; whether that finished in time."""
        return self._spans.flush(timeout_seconds or self.timeout_seconds)

    def refresh_halts(self) -> bool:
        """Ask for the active halts now; whether they changed."""
        return self._halts.refresh()

    def wait_for_halts(self, timeout_seconds: float) -> bool:
        """Block until the poll brings a change of the active halts; whether one came."""
        with self._halts.changed:
            return self._halts.changed.wait(timeout_seconds)

    @property
    def revision(self) -> str | None:
        """The revision of the bundle in force, or None before the first one."""
        return self._state.enforced_revision

    @property
    def bundle_age_seconds(self) -> float | None:
        """Seconds since the server last answered a bundle request."""
        return self._state.age()

    # Decisions

    def check(
        self,
        name: str,
        /,
        *,
        args: Mapping[str, Any] | None = None,
        attributes: Mapping[str, Any] | None = None,
        agent: str | None = None,
        end_user: str | None = None,
    ) -> Decision:
        """Decide the call `name` (e.g. `tool.shell`) with these arguments.

        Returns the decision for allow, steer (`decision.replacement`) and allows that only
        logged or alerted, and a held call once approved. Raises `PolicyBlocked` (block, or the
        deny posture), `Throttled` (`retry_after_seconds`), `ApprovalDenied` / `ApprovalTimeout`
        (`ApprovalRequired` when no approval could be asked for), or, when failing closed,
        `ServerUnreachable`.
        """
        call, decision, decision_id = self._check(name, args, attributes, agent, end_user)
        self._gate.settle(call, decision, decision_id, None)
        return decision

    def _check(
        self,
        name: str,
        args: Mapping[str, Any] | None,
        attributes: Mapping[str, Any] | None,
        agent: str | None,
        end_user: str | None,
    ) -> tuple[ProposedCall, Decision, str | None]:
        call = self._call(name, args, attributes, agent, end_user)
        self._refuse_if_halted(call.agent, call.end_user, None)
        policy_set = self._policies()
        decision, decision_id = self._gate.decide(call, policy_set)
        self._spans.record_check(call, decision, decision_id)
        return call, decision, decision_id

    async def acheck(
        self,
        name: str,
        /,
        *,
        args: Mapping[str, Any] | None = None,
        attributes: Mapping[str, Any] | None = None,
        agent: str | None = None,
        end_user: str | None = None,
    ) -> Decision:
        """`check` for coroutines: the first bundle download runs in a worker thread."""
        await self._aensure_attempted()
        call, decision, decision_id = self._check(name, args, attributes, agent, end_user)
        await self._gate.asettle(call, decision, decision_id, None)
        return decision

    @overload
    def guard(self, fn: Callable[P, R], /) -> Callable[P, R]: ...

    @overload
    def guard(
        self,
        fn: None = None,
        /,
        *,
        name: str | None = None,
        agent: str | None = None,
        approval_timeout_seconds: float | None = None,
    ) -> Callable[[Callable[P, R]], Callable[P, R]]: ...

    def guard(
        self,
        fn: Callable[P, R] | None = None,
        /,
        *,
        name: str | None = None,
        agent: str | None = None,
        approval_timeout_seconds: float | None = None,
    ) -> Callable[P, R] | Callable[[Callable[P, R]], Callable[P, R]]:
        """Decide every call of the function before its body runs (sync or async).

        `name` defaults to `tool.<function name>`. A block raises without running the body; a
        steer returns `decision.replacement` instead of running it; a call held for approval
        runs once approved (waiting at most `approval_timeout_seconds`, default the client's).
        """
        wait = approval_timeout_seconds
        if fn is not None:
            return make_guard(self, fn, name=name, agent=agent, approval_timeout_seconds=wait)

        def decorate(function: Callable[P, R]) -> Callable[P, R]:
            return make_guard(self, function, name=name, agent=agent, approval_timeout_seconds=wait)

        return decorate

    def model_call(
        self,
        *,
        model: str,
        provider: str | None = None,
        operation: str = "chat",
        agent: str | None = None,
        end_user: str | None = None,
    ) -> ModelCall:
        """A span for one model call; `call.record(input_tokens=..., output_tokens=...)`."""
        agent = agent if agent is not None else self.agent
        end_user = end_user if end_user is not None else current_end_user()
        self._refuse_if_halted(agent, end_user, model)
        attrs = model_call_attributes(model, provider, operation, agent, end_user)
        return ModelCall(self._spans.tracer, f"{operation} {model}", attrs)

    def end_user(self, external_id: str) -> AbstractContextManager[str]:
        """`with client.end_user("customer-42"):` sets the end user of the checks inside."""
        return end_user_scope(external_id)

    # Guarded calls (called by the wrappers `guard` builds)

    def run_guarded(
        self,
        name: str,
        agent: str | None,
        args: Mapping[str, Any],
        call: Callable[[], R],
        *,
        approval_timeout_seconds: float | None = None,
    ) -> R:
        proposed = self._call(name, args, None, agent, None)
        self._refuse_if_halted(proposed.agent, proposed.end_user, None)
        policy_set = self._policies()
        with self._spans.tool_span(proposed) as span:
            decision, decision_id = self._decide_in_span(span, proposed, policy_set)
            self._gate.settle(proposed, decision, decision_id, approval_timeout_seconds)
            if decision.action is Action.STEER:
                return cast(R, decision.replacement)
            try:
                return call()
            except Exception as error:
                mark_failed(span, error)
                raise

    async def run_guarded_async(
        self,
        name: str,
        agent: str | None,
        args: Mapping[str, Any],
        call: Callable[[], Awaitable[R]],
        *,
        approval_timeout_seconds: float | None = None,
    ) -> R:
        await self._aensure_attempted()
        proposed = self._call(name, args, None, agent, None)
        self._refuse_if_halted(proposed.agent, proposed.end_user, None)
        policy_set = self._policies()
        with self._spans.tool_span(proposed) as span:
            decision, decision_id = self._decide_in_span(span, proposed, policy_set)
            await self._gate.asettle(proposed, decision, decision_id, approval_timeout_seconds)
            if decision.action is Action.STEER:
                return cast(R, decision.replacement)
            try:
                return await call()
            except Exception as error:
                mark_failed(span, error)
                raise

    # Internals

    def _decide_in_span(
        self, span: Span, proposed: ProposedCall, policy_set: PolicySet | None
    ) -> tuple[Decision, str | None]:
        """Decide a guarded call inside its span, which records the decision."""
        decision, decision_id = self._gate.decide(proposed, policy_set)
        if decision_id is not None:
            span.set_attributes(decision_attributes(decision, decision_id))
        return decision, decision_id

    async def _aensure_attempted(self) -> None:
        if not self._state.attempted or not self._halts.attempted:
            self.start()
            await asyncio.to_thread(self._state.ensure_attempted)
            await asyncio.to_thread(self._halts.ensure_attempted)

    def _ready(self) -> None:
        if self._closed:
            raise CorralError("the client is closed")
        if self._refresher is None:
            self.start()

    def _refuse_if_halted(self, agent: str | None, end_user: str | None, model: str | None) -> None:
        self._ready()
        self._gate.refuse_if_halted(agent, end_user, model)

    def _call(
        self,
        name: str,
        args: Mapping[str, Any] | None,
        attributes: Mapping[str, Any] | None,
        agent: str | None,
        end_user: str | None,
    ) -> ProposedCall:
        if not isinstance(name, str) or not name:
            raise ValueError("the call name must be a non-empty string")
        return proposed_call(
            name,
            args=args,
            attributes=attributes,
            agent=agent if agent is not None else self.agent,
            end_user=end_user if end_user is not None else current_end_user(),
        )

    def _policies(self) -> PolicySet | None:
        self._ready()
        return self._gate.policy_set()
