"""The policy decision engine shared by the SDK, the sidecar, the decision API and ingest.

Build a `PolicySet` from `Policy` values and call `decide(name, attrs)` for each proposed call;
see docs/policy-engine.md for the semantics, the CEL environment and the engine comparison.
"""

from corral_sdk.policy.actions import (
    Action,
    ActionSettings,
    Posture,
    ThrottleConfig,
    ThrottleScope,
    parse_action_config,
)
from corral_sdk.policy.activation import Activation, parse_args
from corral_sdk.policy.applies_to import AppliesTo
from corral_sdk.policy.compiled import CompiledPolicy, compile_policy, validate_policy
from corral_sdk.policy.decision import AlertRequest, Decision, PolicyFailure, PolicyHit
from corral_sdk.policy.engine import CompiledExpression, PolicyEngine, default_engine
from corral_sdk.policy.errors import PolicyCompileError, PolicyProblem, PolicySetError
from corral_sdk.policy.helpers import HELPERS, Helper
from corral_sdk.policy.policy import Policy
from corral_sdk.policy.policy_set import PolicySet
from corral_sdk.policy.result import EvalResult, Outcome
from corral_sdk.policy.throttle import InMemoryThrottleStore, ThrottleStore, ThrottleVerdict
from corral_sdk.policy.values import JsonValue

__all__ = [
    "HELPERS",
    "Action",
    "ActionSettings",
    "Activation",
    "AlertRequest",
    "AppliesTo",
    "CompiledExpression",
    "CompiledPolicy",
    "Decision",
    "EvalResult",
    "Helper",
    "InMemoryThrottleStore",
    "JsonValue",
    "Outcome",
    "Policy",
    "PolicyCompileError",
    "PolicyEngine",
    "PolicyFailure",
    "PolicyHit",
    "PolicyProblem",
    "PolicySet",
    "PolicySetError",
    "Posture",
    "ThrottleConfig",
    "ThrottleScope",
    "ThrottleStore",
    "ThrottleVerdict",
    "compile_policy",
    "default_engine",
    "parse_action_config",
    "parse_args",
    "validate_policy",
]
