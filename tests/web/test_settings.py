"""Application and organization settings: rename, describe, create another application,
delete (not the default one; the organization by owners only), roles, stale forms, CSRF."""

from __future__ import annotations

from fastapi import FastAPI

from corral.web.viewer import APPLICATION_COOKIE
from tests.api.approvals_support import member
from tests.clients import ApiClient
from tests.web.admin import ESCAPED_XSS, XSS
from tests.web.support import post_form

APP_PAGE = "/settings/application"
ORG_PAGE = "/settings/organization"


async def test_rename_create_another_and_delete_an_application(
    app: FastAPI, owner: ApiClient
) -> None:
    renamed = await post_form(
        owner, APP_PAGE, APP_PAGE, application_id=owner.app_id, name="main", description=XSS
    )
    assert renamed.status_code == 303, renamed.text
    page = await owner.get(APP_PAGE)
    assert "Application: main" in page.text
    assert ESCAPED_XSS in page.text
    assert XSS not in page.text
    # The default application has no delete button, and a forged delete is refused.
    assert "Delete application" not in page.text
    kept = await post_form(owner, APP_PAGE, APP_PAGE + "/delete", application_id=owner.app_id)
    assert kept.status_code == 409
    created = await post_form(owner, APP_PAGE, "/settings/applications", name="batch")
    assert created.status_code == 303, created.text
    batch_id = created.cookies[APPLICATION_COOKIE]
    taken = await post_form(owner, APP_PAGE, APP_PAGE, application_id=batch_id, name="main")
    assert taken.status_code == 409
    assert "an application with this name exists" in taken.text
    page = await owner.get(APP_PAGE)
    assert "Application: batch" in page.text
    assert "Yes, delete application" in page.text
    # A form loaded for another application (a switch in another tab) changes nothing.
    stale = await post_form(owner, APP_PAGE, APP_PAGE + "/delete", application_id=owner.app_id)
    assert stale.status_code == 409
    deleted = await post_form(owner, APP_PAGE, APP_PAGE + "/delete", application_id=batch_id)
    assert deleted.status_code == 303, deleted.text
    assert APPLICATION_COOKIE in deleted.headers["set-cookie"]
    apps = (await owner.get("/api/apps")).json()
    assert [(a["name"], a["description"]) for a in apps] == [("main", XSS)]
    actions = [
        e["action"]
        for e in (
            await owner.get("/api/audit/events", params={"target_type": "application"})
        ).json()["data"]
    ]
    # (The deleted application's own events were in its chain, which went with it.)
    assert "application.updated" in actions


async def test_a_viewer_sees_the_settings_and_changes_nothing(
    app: FastAPI, owner: ApiClient
) -> None:
    async with member(app, owner, "vic@example.com", "viewer") as viewer:
        page = await viewer.get(APP_PAGE)
        assert page.status_code == 200
        assert 'action="/settings/application"' not in page.text
        assert 'action="/settings/applications"' not in page.text
        renamed = await post_form(
            viewer, APP_PAGE, APP_PAGE, application_id=owner.app_id, name="mine"
        )
        assert renamed.status_code == 403
        created = await post_form(viewer, APP_PAGE, "/settings/applications", name="mine")
        assert created.status_code == 403
        org = await viewer.get(ORG_PAGE)
        assert 'action="/settings/organization"' not in org.text
        assert "Delete organization" not in org.text
        forged = await post_form(viewer, ORG_PAGE, ORG_PAGE, organization_id=owner.org_id, name="x")
        assert forged.status_code == 403
        viewer.headers.pop("X-CSRF-Token")
        without_token = await viewer.post(APP_PAGE, data={"name": "x"})
        assert without_token.status_code == 403
    assert [a["name"] for a in (await viewer_apps(owner))] == ["default"]


async def viewer_apps(client: ApiClient) -> list[dict[str, str]]:
    listed: list[dict[str, str]] = (await client.get("/api/apps")).json()
    return listed


async def test_organization_rename_by_admins_and_delete_by_owners(
    app: FastAPI, owner: ApiClient
) -> None:
    async with member(app, owner, "ada@example.com", "admin") as admin:
        page = await admin.get(ORG_PAGE)
        assert 'action="/settings/organization"' in page.text
        assert "Delete organization" not in page.text
        assert "Only an owner can delete" in page.text
        renamed = await post_form(
            admin, ORG_PAGE, ORG_PAGE, organization_id=owner.org_id, name=f"Acme {XSS}"
        )
        assert renamed.status_code == 303, renamed.text
        assert ESCAPED_XSS in (await admin.get(ORG_PAGE)).text
        refused = await post_form(
            admin, ORG_PAGE, ORG_PAGE + "/delete", organization_id=owner.org_id
        )
        assert refused.status_code == 403
        page = await owner.get(ORG_PAGE)
        assert "Yes, delete organization" in page.text
        deleted = await post_form(
            owner, ORG_PAGE, ORG_PAGE + "/delete", organization_id=owner.org_id
        )
        assert deleted.status_code == 303, deleted.text
        assert deleted.headers["location"] == "/"
        overview = await admin.get("/")
        assert 'href="/onboarding"' in overview.text
    assert (await owner.get("/api/orgs")).json() == []
