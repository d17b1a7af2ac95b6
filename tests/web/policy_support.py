"""Policies for page tests: made through the API, as an operator's script would."""

from __future__ import annotations

from typing import Any

from tests.clients import ApiClient
from tests.web.forms import csrf_of

XSS = '<script>alert("owned")</script>'
SHELL_BLOCK: dict[str, Any] = {
    "name": "no shell",
    "description": "Stops shell tools.",
    "expression": 'name == "tool.shell"',
    "action": "block",
    "action_config": {"message": "no shell here"},
    "priority": 200,
    "applies_to": ["tool.*"],
}
# The editor's fields as a browser posts them.
FORM: dict[str, str] = {
    "name": "no shell",
    "description": "Stops shell tools.",
    "expression": 'name == "tool.shell"',
    "action": "block",
    "action_config": '{"message": "no shell here"}',
    "priority": "200",
    "applies_to": "tool.*",
    "enabled": "on",
    "shadow": "",
}


async def create_policy(client: ApiClient, **fields: Any) -> str:
    response = await client.post("/api/policies", json={**SHELL_BLOCK, **fields})
    assert response.status_code == 201, response.text
    policy_id: str = response.json()["id"]
    return policy_id


async def change_policy(client: ApiClient, policy_id: str, **fields: Any) -> None:
    response = await client.patch(f"/api/policies/{policy_id}", json=fields)
    assert response.status_code == 200, response.text


async def post_fields(client: ApiClient, page_path: str, url: str, fields: dict[str, str]) -> Any:
    """`post_form` for forms with a field called `action` (the policy's), as a browser sends
    them: the token in the form, not the API's header."""
    page = await client.get(page_path)
    assert page.status_code == 200, page.text
    token = csrf_of(page)
    client.headers.pop("X-CSRF-Token", None)
    try:
        return await client.post(url, data={"csrf_token": token, **fields})
    finally:
        client.headers["X-CSRF-Token"] = token
