"""The header's application switcher: lists the viewer's applications across organizations,
keeps the choice in an HttpOnly cookie, and ignores a cookie naming what the user cannot see."""

from __future__ import annotations

from fastapi import FastAPI

from corral.web.routes.switcher import landing_after_switch
from corral.web.viewer import APPLICATION_COOKIE
from tests.clients import ApiClient
from tests.web.admin import ESCAPED_XSS, XSS
from tests.web.support import post_form


async def _second_app(owner: ApiClient, name: str) -> str:
    created = await owner.post("/api/apps", json={"name": name})
    assert created.status_code == 201, created.text
    app_id: str = created.json()["id"]
    return app_id


async def test_switching_shows_the_chosen_application(app: FastAPI, owner: ApiClient) -> None:
    single = await owner.get("/api-keys")
    assert 'data-testid="app-switcher"' not in single.text
    assert 'data-testid="current-application"' in single.text
    second = await _second_app(owner, f"second {XSS}")
    page = await owner.get("/api-keys")
    assert 'data-testid="app-switcher"' in page.text
    assert f'<option value="{owner.app_id}" selected>' in page.text
    assert ESCAPED_XSS in page.text
    assert XSS not in page.text
    # Without scripts the form's own button posts it; the script is a file, never inline.
    assert ">Switch</button>" in page.text
    assert "/app_switcher.js" in page.text
    switched = await post_form(
        owner, "/api-keys", "/switch-application", application_id=second, next="/budgets/bgt_x?c=1"
    )
    assert switched.status_code == 303
    assert switched.headers["location"] == "/budgets"
    cookie = switched.headers["set-cookie"]
    assert f"{APPLICATION_COOKIE}={second}" in cookie
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie
    created = await post_form(owner, "/connect", "/connect", agent="second-agent")
    assert created.status_code == 200
    settings = await owner.get("/settings/application")
    assert f"<code>{second}</code>" in settings.text
    # The key went to the chosen application, not the default one.
    in_second = await owner.get("/api/api-keys", headers={"Corral-Application": second})
    assert [k["name"] for k in in_second.json()["data"]] == ["second-agent (agent)"]
    assert (await owner.get("/api/api-keys")).json()["data"] == []
    htmx = await owner.post(
        "/switch-application",
        data={"application_id": owner.app_id, "next": "/runs"},
        headers={"HX-Request": "true"},
    )
    assert htmx.status_code == 204
    assert htmx.headers["hx-redirect"] == "/runs"


async def test_a_forged_cookie_shows_nothing_of_another_organization(
    app: FastAPI, owner: ApiClient, stranger: ApiClient
) -> None:
    secret_app = await _second_app(owner, "acme-secret")
    await owner.create_key(["runs:read"], name="acme key")
    stranger.cookies.set(APPLICATION_COOKIE, owner.app_id)
    for path in ("/settings/application", "/api-keys", "/connect", "/"):
        page = await stranger.get(path)
        assert page.status_code == 200, path
        assert owner.app_id not in page.text
        assert "acme" not in page.text.lower()
    assert f"<code>{stranger.app_id}</code>" in (await stranger.get("/settings/application")).text
    stranger.cookies.set(APPLICATION_COOKIE, secret_app)
    assert "acme-secret" not in (await stranger.get("/settings/application")).text
    refused = await post_form(
        stranger, "/api-keys", "/switch-application", application_id=secret_app, next="/"
    )
    assert refused.status_code == 404
    assert APPLICATION_COOKIE not in refused.headers.get("set-cookie", "")


async def test_the_switcher_lists_every_organization_of_the_user(
    app: FastAPI, owner: ApiClient
) -> None:
    created = await post_form(
        owner,
        "/settings/organization",
        "/onboarding/organization",
        organization_name="Second Org",
        name="side-project",
    )
    assert created.status_code == 303, created.text
    page = await owner.get("/")
    assert '<optgroup label="Acme">' in page.text
    assert '<optgroup label="Second Org">' in page.text
    # The new organization's application is the one shown now.
    assert " selected>side-project</option>" in page.text


def test_the_switch_lands_on_the_section_not_the_object() -> None:
    assert landing_after_switch("/runs/run_1") == "/runs"
    assert landing_after_switch("/traces?cursor=x") == "/traces"
    assert landing_after_switch("/settings/organization") == "/settings/organization"
    assert landing_after_switch("//evil.example/x") == "/"
    assert landing_after_switch("") == "/"
