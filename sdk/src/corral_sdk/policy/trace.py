"""The evidence gathered while one call is decided, and what each policy outcome does to it."""

from __future__ import annotations

from corral_sdk.policy.actions import Action, ThrottleScope
from corral_sdk.policy.activation import Activation
from corral_sdk.policy.compiled import CompiledPolicy
from corral_sdk.policy.decision import AlertRequest, Decision, PolicyFailure, PolicyHit
from corral_sdk.policy.result import EvalResult, Outcome
from corral_sdk.policy.throttle import ThrottleStore, ThrottleVerdict
from corral_sdk.policy.values import AGENT_ID_ATTRS, END_USER_ATTR

_DEFAULT_MESSAGES = {
    Action.BLOCK: "blocked by policy {name}",
    Action.REQUIRE_APPROVAL: "policy {name} requires approval",
    Action.THROTTLE: "throttled by policy {name}",
}


class DecisionTrace:
    """Evidence for one decision; `record` applies one policy's outcome and may end it."""

    __slots__ = (
        "activation",
        "agent",
        "alerts",
        "end_user",
        "errors",
        "evaluated",
        "matched",
        "shadow",
        "store",
    )

    def __init__(
        self,
        activation: Activation | None = None,
        agent: str | None = None,
        end_user: str | None = None,
        store: ThrottleStore | None = None,
    ) -> None:
        self.activation = activation
        self.agent = agent
        self.end_user = end_user
        self.store = store
        self.matched: list[PolicyHit] = []
        self.shadow: list[PolicyHit] = []
        self.errors: list[PolicyFailure] = []
        self.alerts: list[AlertRequest] = []
        self.evaluated = 0

    def record(self, entry: CompiledPolicy, result: EvalResult) -> Decision | None:
        """Apply one policy's outcome; a Decision when it decides the call, else None to go on."""
        policy = entry.policy
        action = policy.action
        if result.outcome is Outcome.NO_MATCH:
            return None
        failure: str | None = None
        if result.outcome is Outcome.ERROR:
            failure = result.reason or "evaluation failed"
            fails_closed = action.enforcing
            self.errors.append(
                PolicyFailure(policy.id, policy.name, action, failure, fails_closed, policy.shadow)
            )
            if not fails_closed:
                return None
        if failure is None:
            hit = entry.hit
        else:
            hit = PolicyHit(policy.id, policy.name, action, failed_closed=True)
        if policy.shadow:
            self.shadow.append(hit)
            return None
        if not action.control:
            self.matched.append(hit)
            if action is Action.ALERT:
                message = entry.settings.message if entry.settings else None
                self.alerts.append(
                    AlertRequest(policy.id, policy.name, message, policy.action_config)
                )
            return None
        if action is Action.THROTTLE:
            return self._throttle(entry, failure)
        self.matched.append(hit)
        return self.finish(action, entry, self._message(entry, failure))

    def _throttle(self, entry: CompiledPolicy, failure: str | None) -> Decision | None:
        policy = entry.policy
        config = entry.settings.throttle if entry.settings else None
        verdict: ThrottleVerdict
        if config is None or self.store is None:
            # Without a valid bucket there is no way to admit safely.
            verdict = ThrottleVerdict(admitted=False)
        else:
            try:
                verdict = self.store.take(
                    self._bucket_key(policy.id, config.scope),
                    config.max_calls,
                    config.window_seconds,
                )
            # A store that cannot answer (a shared one may be down) must not let calls through.
            except Exception as exc:  # noqa: BLE001
                verdict = ThrottleVerdict(admitted=False)
                failure = f"throttle store unavailable: {type(exc).__name__}: {exc}"
                self.errors.append(
                    PolicyFailure(policy.id, policy.name, Action.THROTTLE, failure, True, False)
                )
        if failure is None:
            self.matched.append(entry.throttle_hits[1 if verdict.admitted else 0])
        else:
            self.matched.append(
                PolicyHit(
                    policy.id,
                    policy.name,
                    Action.THROTTLE,
                    failed_closed=True,
                    throttle_admitted=verdict.admitted,
                )
            )
        if verdict.admitted:
            return None
        return self.finish(
            Action.THROTTLE, entry, self._message(entry, failure), verdict.retry_after_seconds
        )

    def _bucket_key(self, policy_id: str, scope: ThrottleScope) -> str:
        if scope is ThrottleScope.GLOBAL:
            subject: object = ""
        elif scope is ThrottleScope.END_USER:
            subject = self.end_user or self._attr((END_USER_ATTR,))
        else:
            subject = self.agent or self._attr(AGENT_ID_ATTRS)
        return f"{policy_id}\x1f{scope.value}\x1f{subject}"

    def _attr(self, keys: tuple[str, ...]) -> object:
        attrs = self.activation.attrs if self.activation is not None else {}
        return next((attrs[key] for key in keys if attrs.get(key)), "")

    @staticmethod
    def _message(entry: CompiledPolicy, failure: str | None) -> str | None:
        name = entry.policy.name
        if failure is not None:
            return f"policy {name} could not be evaluated and fails closed: {failure}"
        if entry.settings is not None and entry.settings.message is not None:
            return entry.settings.message
        template = _DEFAULT_MESSAGES.get(entry.policy.action)
        return template.format(name=name) if template else None

    def finish(
        self,
        action: Action,
        entry: CompiledPolicy | None = None,
        message: str | None = None,
        retry_after_seconds: float | None = None,
    ) -> Decision:
        """The decision, carrying all evidence gathered so far."""
        policy = entry.policy if entry is not None else None
        settings = entry.settings if entry is not None else None
        return Decision(
            action=action,
            policy_id=policy.id if policy else None,
            policy_name=policy.name if policy else None,
            message=message,
            replacement=settings.replacement if settings and action is Action.STEER else None,
            retry_after_seconds=retry_after_seconds,
            action_config=policy.action_config if policy else {},
            matched=tuple(self.matched),
            shadow=tuple(self.shadow),
            errors=tuple(self.errors),
            alerts=tuple(self.alerts),
            evaluated=self.evaluated,
        )
