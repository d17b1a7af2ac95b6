"""The Policies pages in-process: list with match counts and filters, the editor (create, edit,
live check, refusals, simulation), templates, enable/disable, delete, who may do what."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import FastAPI
from sqlalchemy import insert

from corral.core.clock import utcnow
from corral.core.db import transaction
from corral.core.ids import earliest_id
from corral.governance.models import DecisionPolicy
from tests.api.approvals_support import member
from tests.clients import ApiClient
from tests.traces.support import container_of
from tests.web.policy_support import FORM, XSS, create_policy, post_fields
from tests.web.seeding import add_decision, add_trace, span_row
from tests.web.support import post_form

TRACE = "5" * 32


async def _create(client: ApiClient, **fields: str) -> Any:
    return await post_fields(client, "/policies/new", "/policies", {**FORM, **fields})


async def test_policy_pages_need_a_session(client: ApiClient) -> None:
    for path in ("/policies", "/policies/new", "/policies/templates", "/decisions"):
        assert (await client.get(path)).status_code == 303, path


async def test_create_edit_disable_enable_and_delete(owner: ApiClient) -> None:
    created = await _create(owner, name=f"shell {XSS}", description=XSS)
    assert created.status_code == 303, created.text
    policy_id = created.headers["location"].removeprefix("/policies/")
    assert policy_id.startswith("pol_")
    stored = (await owner.get(f"/api/policies/{policy_id}")).json()
    assert (stored["expression"], stored["action_config"], stored["applies_to"]) == (
        'name == "tool.shell"',
        {"message": "no shell here"},
        ["tool.*"],
    )

    listed = (await owner.get("/policies")).text
    assert XSS not in listed
    assert "shell &lt;script&gt;" in listed
    detail = await owner.get(f"/policies/{policy_id}")
    assert detail.status_code == 200
    assert XSS not in detail.text
    assert 'hx-post="/policies/validate"' in detail.text

    edited = await post_fields(
        owner,
        f"/policies/{policy_id}",
        f"/policies/{policy_id}",
        {**FORM, "name": "no shell", "priority": "250", "shadow": "on", "expected_version": "1"},
    )
    assert edited.status_code == 303, edited.text
    stored = (await owner.get(f"/api/policies/{policy_id}")).json()
    assert (stored["priority"], stored["shadow"], stored["version"]) == (250, True, 2)
    assert "badge-shadow" in (await owner.get("/policies")).text

    stale = await post_fields(
        owner,
        f"/policies/{policy_id}",
        f"/policies/{policy_id}",
        {**FORM, "priority": "1", "expected_version": "1"},
    )
    assert stale.status_code == 412
    assert "reload and retry" in stale.text
    assert (await owner.get(f"/api/policies/{policy_id}")).json()["priority"] == 250

    path = f"/policies/{policy_id}"
    off = await post_form(owner, path, f"{path}/enabled", enabled="off")
    assert off.status_code == 303
    assert (await owner.get(f"/api/policies/{policy_id}")).json()["enabled"] is False
    assert "Enable policy" in (await owner.get(path)).text
    on = await post_form(owner, path, f"{path}/enabled", enabled="on")
    assert on.status_code == 303
    assert (await owner.get(f"/api/policies/{policy_id}")).json()["enabled"] is True

    deleted = await post_form(owner, path, f"{path}/delete")
    assert deleted.status_code == 303
    assert deleted.headers["location"] == "/policies"
    assert (await owner.get(f"/api/policies/{policy_id}")).status_code == 404
    assert (await owner.get(path)).status_code == 404
    assert 'data-testid="no-policies"' in (await owner.get("/policies")).text


async def test_an_invalid_condition_comes_back_with_where_it_fails(owner: ApiClient) -> None:
    refused = await _create(owner, expression='name == "tool.shell" &&')
    assert refused.status_code == 422
    text = refused.text
    assert "line 1, column" in text
    assert "name == &#34;tool.shell&#34; &amp;&amp;</textarea>" in text
    bad_config = await _create(owner, action_config="{not json")
    assert bad_config.status_code == 422
    assert "action config: is not JSON" in bad_config.text
    unknown_key = await _create(owner, action_config='{"colour": "red"}')
    assert unknown_key.status_code == 422
    assert "colour: unknown key for block" in unknown_key.text
    assert (await owner.get("/api/policies")).json()["data"] == []

    await _create(owner)
    taken = await _create(owner)
    assert taken.status_code == 409
    assert "a policy with this name exists" in taken.text


async def test_the_live_check_answers_the_typed_condition(owner: ApiClient) -> None:
    await owner.get("/policies/new")
    htmx = {"HX-Request": "true"}
    broken = await owner.post(
        "/policies/validate", data={**FORM, "name": "", "expression": "args.x =="}, headers=htmx
    )
    assert broken.status_code == 200
    assert 'data-testid="check-problems"' in broken.text
    assert "line 1, column" in broken.text
    fine = await owner.post(
        "/policies/validate", data={**FORM, "name": "", "expression": "true"}, headers=htmx
    )
    assert 'data-testid="check-valid"' in fine.text
    not_bool = await owner.post(
        "/policies/validate", data={**FORM, "expression": f'"{XSS}"'}, headers=htmx
    )
    assert 'data-testid="check-problems"' in not_bool.text
    assert XSS not in not_bool.text


async def test_simulate_counts_matches_over_the_last_spans(app: FastAPI, owner: ApiClient) -> None:
    start = utcnow() - timedelta(minutes=5)
    spans = [
        span_row(
            owner.org_id,
            owner.app_id,
            TRACE,
            f"{n:016x}",
            None,
            start + timedelta(seconds=n),
            10,
            name=f"call {n}",
            category="tool",
            call_name="tool.shell" if n % 3 == 0 else "tool.search",
            agent_name="digger",
        )
        for n in range(9)
    ]
    await add_trace(container_of(app), owner.org_id, owner.app_id, TRACE, spans)
    await owner.get("/policies/new")
    answer = await owner.post(
        "/policies/simulate", data={**FORM, "spans": "100"}, headers={"HX-Request": "true"}
    )
    assert answer.status_code == 200, answer.text
    assert "<strong>3</strong> of the last 9 tool and model spans would match" in answer.text
    assert "<dt>block</dt><dd>3 spans</dd>" in answer.text
    assert "<dt>allow</dt><dd>6 spans</dd>" in answer.text
    assert f'href="/traces/{TRACE}"' in answer.text
    assert (await owner.get("/api/policies")).json()["data"] == []

    # Without scripts the form comes back with the result on it.
    page = await post_fields(
        owner, "/policies/new", "/policies/simulate", {**FORM, "spans": "1000"}
    )
    assert page.status_code == 200
    assert 'id="policy-form"' in page.text
    assert "<strong>3</strong> of the last 9" in page.text
    refused = await post_fields(
        owner, "/policies/new", "/policies/simulate", {**FORM, "expression": "("}
    )
    assert refused.status_code == 422
    assert "line 1, column" in refused.text
    too_many = await post_fields(
        owner, "/policies/new", "/policies/simulate", {**FORM, "spans": "5"}
    )
    assert too_many.status_code == 422


async def test_the_list_counts_matches_and_filters(app: FastAPI, owner: ApiClient) -> None:
    shell = await create_policy(owner)
    audit = await create_policy(
        owner,
        name="log everything",
        expression="true",
        action="log",
        action_config={},
        priority=300,
    )
    call = {"name": "tool.shell", "attributes": {"gen_ai.tool.name": "shell"}}
    for _ in range(3):
        assert (await owner.post("/api/decisions", json=call)).json()["action"] == "block"
    search = {"name": "tool.search", "attributes": {}}
    # A log policy matches without deciding: the answer is an allow, recorded with the match.
    assert (await owner.post("/api/decisions", json=search)).json()["decision_id"]
    # Three days ago, both took part in one more.
    old = utcnow() - timedelta(days=3)
    record_id = earliest_id("dec", old)
    await add_decision(
        container_of(app), owner.org_id, owner.app_id, TRACE, id=record_id, created_at=old
    )
    async with transaction(container_of(app).sessions) as session:
        await session.execute(
            insert(DecisionPolicy),
            [
                {
                    "record_id": record_id,
                    "policy_id": policy_id,
                    "role": role,
                    "application_id": owner.app_id,
                }
                for policy_id, role in ((shell, "decided"), (audit, "matched"))
            ],
        )
    page = (await owner.get("/policies")).text
    assert "3 matches in 24 hours for no shell" in page
    assert "4 matches in 7 days for no shell" in page
    assert "4 matches in 24 hours for log everything" in page
    assert "5 matches in 7 days for log everything" in page
    assert f"/decisions?policy={shell}&amp;within=24h" in page
    only_log = (await owner.get("/policies?action=log")).text
    assert "log everything" in only_log
    assert f"/policies/{shell}" not in only_log
    await post_form(owner, f"/policies/{audit}", f"/policies/{audit}/enabled", enabled="off")
    disabled = (await owner.get("/policies?state=off")).text
    assert f"/policies/{audit}" in disabled
    assert f"/policies/{shell}" not in disabled
    assert (await owner.get("/policies?action=explode")).status_code == 422


async def test_a_template_opens_the_editor_filled_and_creates_a_policy(owner: ApiClient) -> None:
    gallery = await owner.get("/policies/templates")
    assert gallery.status_code == 200
    assert "Block shell and code-execution tools" in gallery.text
    assert 'href="/policies/new?template=block-shell-tools"' in gallery.text
    editor = await owner.get("/policies/new?template=block-shell-tools")
    assert editor.status_code == 200
    assert 'value="Block shell and code-execution tools"' in editor.text
    assert 'name="template_id" value="block-shell-tools"' in editor.text
    assert (await owner.get("/policies/new?template=nope")).status_code == 404

    fields = {
        "name": "Block shell and code-execution tools",
        "description": "",
        "expression": "true",
        "action": "block",
        "action_config": '{"message": "no"}',
        "priority": "200",
        "applies_to": "tool.shell\ntool.bash",
        "enabled": "on",
        "shadow": "",
        "template_id": "block-shell-tools",
    }
    created = await post_fields(owner, "/policies/new", "/policies", fields)
    assert created.status_code == 303, created.text
    policy_id = created.headers["location"].removeprefix("/policies/")
    stored = (await owner.get(f"/api/policies/{policy_id}")).json()
    assert (stored["action"], stored["applies_to"]) == ("block", ["tool.shell", "tool.bash"])
    events = (await owner.get("/api/audit/events?action=policy.created")).json()["data"]
    assert events[0]["details"]["template_id"] == "block-shell-tools"


async def test_conflicts_page(owner: ApiClient) -> None:
    await create_policy(owner, name="first")
    await create_policy(owner, name="second")
    page = await owner.get("/policies/conflicts")
    assert page.status_code == 200
    assert "2 enabled policies analyzed" in page.text
    assert 'data-testid="conflicts"' in page.text


async def test_a_viewer_sees_no_controls_and_forged_posts_are_refused(
    app: FastAPI, owner: ApiClient
) -> None:
    policy_id = await create_policy(owner)
    async with member(app, owner, "vera@example.com", "viewer") as vera:
        listed = (await vera.get("/policies")).text
        assert "no shell" in listed
        assert "New policy" not in listed
        detail = (await vera.get(f"/policies/{policy_id}")).text
        assert '<form method="post" action="/policies' not in detail
        assert "name == &#34;tool.shell&#34;" in detail
        assert "/policies/new?template=" not in (await vera.get("/policies/templates")).text
        assert (await vera.get("/policies/new")).status_code == 403
        for action, fields in (
            ("/policies", FORM),
            (f"/policies/{policy_id}", FORM),
            (f"/policies/{policy_id}/enabled", {"enabled": "off"}),
            (f"/policies/{policy_id}/delete", {}),
        ):
            forged = await post_fields(vera, "/policies", action, fields)
            assert forged.status_code == 403, action
            assert "policies:write" in forged.text
    stored = (await owner.get(f"/api/policies/{policy_id}")).json()
    assert (stored["version"], stored["enabled"]) == (1, True)


async def test_another_organization_gets_not_found(owner: ApiClient, stranger: ApiClient) -> None:
    policy_id = await create_policy(owner)
    assert policy_id not in (await stranger.get("/policies")).text
    assert (await stranger.get(f"/policies/{policy_id}")).status_code == 404
    for action, fields in (
        (f"/policies/{policy_id}", FORM),
        (f"/policies/{policy_id}/enabled", {"enabled": "off"}),
        (f"/policies/{policy_id}/delete", {}),
    ):
        attempt = await post_fields(stranger, "/policies", action, fields)
        assert attempt.status_code == 404, action
        assert "policy not found" in attempt.text
    assert (await owner.get(f"/api/policies/{policy_id}")).json()["version"] == 1


async def test_a_post_without_the_token_is_refused(owner: ApiClient) -> None:
    policy_id = await create_policy(owner)
    owner.headers.pop("X-CSRF-Token", None)
    for action, fields in (
        ("/policies", FORM),
        (f"/policies/{policy_id}/delete", {}),
        ("/policies/validate", FORM),
        ("/policies/simulate", FORM),
    ):
        refused = await owner.post(action, data=fields)
        assert refused.status_code == 403, action
    assert len((await owner.get("/api/policies")).json()["data"]) == 1
