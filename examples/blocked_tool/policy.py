"""The example's policy, created through Corral's API if it does not exist yet (matched by name)."""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
from typing import Any

POLICY: dict[str, Any] = {
    "name": "example: no recursive deletes",
    "description": "Created by examples/blocked_tool: refuse `rm -r`, `rm -rf`, `rm -fr`...",
    "action": "block",
    "priority": 500,
    "applies_to": ["tool.shell"],
    # CEL; `args` are the arguments of the tool call. RE2 syntax, so `\\s` in the CEL string.
    "expression": r'args.command.matches("rm\\s+-[a-zA-Z]*[rR]")',
    "action_config": {"message": "recursive deletes are not allowed"},
}


def ensure_policy(endpoint: str, api_key: str) -> dict[str, Any]:
    """The stored policy named like `POLICY`, created first if the application has none."""
    query = urllib.parse.urlencode({"q": POLICY["name"]})
    listed = _request("GET", f"{endpoint}/api/policies?{query}", api_key)
    existing: list[dict[str, Any]] = listed["data"]
    for policy in existing:
        if policy["name"] == POLICY["name"]:
            return policy
    return _request("POST", f"{endpoint}/api/policies", api_key, POLICY)


def _request(method: str, url: str, api_key: str, body: Any = None) -> dict[str, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(  # noqa: S310 - the URL is the Corral endpoint we were given
        url,
        data=data,
        method=method,
        headers={"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - same
        answer: dict[str, Any] = json.load(response)
    return answer
