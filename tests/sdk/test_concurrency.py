"""One policy set shared by threads decides every call as it would alone."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from corral_sdk.policy import Action, PolicySet
from tests.sdk.policies import policy, tool_call


def test_threads_share_one_policy_set() -> None:
    policies = PolicySet(
        [
            policy(
                "rm",
                expression='has(args.command) && args.command.contains("rm -rf")',
                applies_to=("tool.*",),
            ),
            policy(
                "host",
                Action.STEER,
                'has(args.url) && url_host(args.url) == "evil.example"',
                config={"replacement": "no"},
            ),
        ]
    )
    calls = [
        (tool_call(command="rm -rf /"), Action.BLOCK),
        (tool_call(command="ls"), Action.ALLOW),
        (tool_call(url="https://evil.example/x"), Action.STEER),
    ] * 200

    def decide(index: int) -> bool:
        attrs, expected = calls[index]
        return policies.decide(f"tool.t{index % 7}", attrs).action is expected

    with ThreadPoolExecutor(max_workers=4) as pool:
        assert all(pool.map(decide, range(len(calls))))
