"""The Halts page: create with a scope and state, clear, the cleared tab, who may change them,
tenants, CSRF and escaping."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from tests.api.approvals_support import member
from tests.clients import ApiClient
from tests.web.support import post_form

XSS = '<script>alert("owned")</script>'


async def _create(client: ApiClient, **fields: str) -> Any:
    return await post_form(client, "/halts", "/halts", **fields)


async def _halts(client: ApiClient, *, include_cleared: bool = False) -> list[dict[str, Any]]:
    response = await client.get("/api/halts", params={"include_cleared": include_cleared})
    data: list[dict[str, Any]] = response.json()["data"]
    return data


async def test_create_a_halt_see_it_and_clear_it(owner: ApiClient) -> None:
    created = await _create(
        owner, scope="agent", scope_value="payer", reason=f"runaway {XSS}", state="paused"
    )
    assert created.status_code == 303, created.text
    assert created.headers["location"] == "/halts"
    [halt] = await _halts(owner)
    assert (halt["scope"], halt["scope_value"], halt["state"]) == ("agent", "payer", "paused")

    page = (await owner.get("/halts")).text
    assert "<code>payer</code>" in page
    assert "runaway &lt;script&gt;" in page
    assert XSS not in page
    assert f'action="/halts/{halt["id"]}/clear"' in page

    cleared = await post_form(owner, "/halts", f"/halts/{halt['id']}/clear")
    assert cleared.status_code == 303, cleared.text
    assert await _halts(owner) == []
    assert "No active halts" in (await owner.get("/halts")).text
    everything = (await owner.get("/halts?show=all")).text
    assert "cleared " in everything
    assert f'action="/halts/{halt["id"]}/clear"' not in everything
    # Clearing twice is refused by the service, shown as a page.
    again = await post_form(owner, "/halts", f"/halts/{halt['id']}/clear")
    assert again.status_code == 409
    assert "already cleared" in again.text


async def test_an_application_halt_takes_no_value(owner: ApiClient) -> None:
    created = await _create(
        owner, scope="application", scope_value="ignored", reason="incident", state="halted"
    )
    assert created.status_code == 303, created.text
    [halt] = await _halts(owner)
    assert (halt["scope"], halt["scope_value"], halt["state"]) == ("application", "", "halted")


async def test_refusals_show_the_form_again_with_what_was_typed(owner: ApiClient) -> None:
    missing = await _create(owner, scope="agent", scope_value="", reason="why", state="halted")
    assert missing.status_code == 422
    assert "needs a scope_value" in missing.text
    assert 'value="why"' in missing.text
    unknown = await _create(
        owner, scope="end_user", scope_value=XSS, reason="nobody", state="halted"
    )
    assert unknown.status_code == 404
    assert "end-user not found" in unknown.text
    assert XSS not in unknown.text
    assert "&lt;script&gt;" in unknown.text
    bad_state = await _create(owner, scope="agent", scope_value="a", reason="r", state="frozen")
    assert bad_state.status_code == 422
    assert await _halts(owner, include_cleared=True) == []


async def test_a_viewer_sees_no_controls_and_a_forged_post_is_refused(
    app: FastAPI, owner: ApiClient
) -> None:
    halt = (await owner.post("/api/halts", json={"scope": "application", "reason": "r"})).json()
    async with member(app, owner, "vera@example.com", "viewer") as vera:
        page = (await vera.get("/halts")).text
        assert "<strong>active</strong>" in page
        assert "New halt" not in page
        assert "/clear" not in page
        forged = await post_form(vera, "/halts", f"/halts/{halt['id']}/clear")
        assert forged.status_code == 403
        created = await post_form(
            vera, "/halts", "/halts", scope="application", reason="r", state="halted"
        )
        assert created.status_code == 403
        assert "halts:write" in created.text
    assert len(await _halts(owner)) == 1


async def test_another_organization_cannot_see_or_clear(
    owner: ApiClient, stranger: ApiClient
) -> None:
    halt = (await owner.post("/api/halts", json={"scope": "application", "reason": "r"})).json()
    assert halt["id"] not in (await stranger.get("/halts?show=all")).text
    attempt = await post_form(stranger, "/halts", f"/halts/{halt['id']}/clear")
    assert attempt.status_code == 404
    assert "halt not found" in attempt.text
    assert len(await _halts(owner)) == 1


async def test_a_post_without_the_token_is_refused(owner: ApiClient) -> None:
    owner.headers.pop("X-CSRF-Token")
    for data in (
        {"scope": "application", "reason": "r", "state": "halted"},
        {"scope": "application", "reason": "r", "state": "halted", "csrf_token": "guessed"},
    ):
        refused = await owner.post("/halts", data=data)
        assert refused.status_code == 403
        assert "security token" in refused.text
    assert (await owner.get("/halts")).status_code == 200
    assert "No active halts" in (await owner.get("/halts")).text
