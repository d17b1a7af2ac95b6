"""The Connections pages: create, edit, replace or keep the credential, delete; credentials never
rendered back; who may change them, tenants, CSRF and escaping."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from corral.connections import credentials
from corral.connections.models import Connection
from corral.core.db import transaction
from tests.api.approvals_support import member
from tests.clients import ApiClient
from tests.traces.support import container_of
from tests.web.admin import ESCAPED_XSS, XSS
from tests.web.support import post_form

SECRET = "tok-do-not-leak-0123456789"
NEW = {
    "name": "crm",
    "description": "the CRM",
    "end_user_id": "",
    "auth_type": "header",
    "auth_name": "X-Api-Key",
    "auth_username": "",
    "secret": SECRET,
    "authorized_uris": "https://crm.example.com/api/**\n\nhttps://crm.example.com/v2/*",
}


async def _create(client: ApiClient, **fields: str) -> Any:
    return await post_form(client, "/connections", "/connections", **{**NEW, **fields})


async def _stored_secret(app: FastAPI, connection_id: str) -> dict[str, str]:
    container = container_of(app)
    async with transaction(container.sessions) as session:
        connection = await session.get(Connection, connection_id)
        assert connection is not None
        return credentials.open_secret(container.keyring, connection)


async def test_create_list_edit_keep_and_replace_the_credential_then_delete(
    app: FastAPI, owner: ApiClient
) -> None:
    created = await _create(owner, description=XSS)
    assert created.status_code == 303, created.text
    connection_id = created.headers["location"].removeprefix("/connections/")
    assert connection_id.startswith("con_")
    read = (await owner.get(f"/api/connections/{connection_id}")).json()
    assert read["auth"] == {"type": "header", "name": "X-Api-Key", "username": None}
    assert read["authorized_uris"] == [
        "https://crm.example.com/api/**",
        "https://crm.example.com/v2/*",
    ]
    assert await _stored_secret(app, connection_id) == {"value": SECRET}

    listed = (await owner.get("/connections")).text
    detail = (await owner.get(f"/connections/{connection_id}")).text
    for page in (listed, detail):
        assert SECRET not in page
        assert XSS not in page
        assert ESCAPED_XSS in page
        assert "X-Api-Key" in page
    assert 'type="password"' in detail
    assert "Delete connection" in detail

    # A blank credential keeps the stored one.
    kept = await post_form(
        owner,
        f"/connections/{connection_id}",
        f"/connections/{connection_id}",
        description="changed",
        authorized_uris="https://crm.example.com/**",
        auth_type="header",
        auth_name="X-Api-Key",
        secret="",
    )
    assert kept.status_code == 303, kept.text
    read = (await owner.get(f"/api/connections/{connection_id}")).json()
    assert (read["description"], read["authorized_uris"]) == (
        "changed",
        ["https://crm.example.com/**"],
    )
    assert await _stored_secret(app, connection_id) == {"value": SECRET}

    # Sending it another way needs it typed again.
    refused = await post_form(
        owner,
        f"/connections/{connection_id}",
        f"/connections/{connection_id}",
        description="changed",
        authorized_uris="https://crm.example.com/**",
        auth_type="bearer",
        secret="",
    )
    assert refused.status_code == 422
    assert "enter the credential again" in refused.text
    replaced = await post_form(
        owner,
        f"/connections/{connection_id}",
        f"/connections/{connection_id}",
        description="changed",
        authorized_uris="https://crm.example.com/**",
        auth_type="basic",
        auth_username="robot",
        secret="new-password-42",
    )
    assert replaced.status_code == 303, replaced.text
    assert await _stored_secret(app, connection_id) == {"password": "new-password-42"}
    detail = (await owner.get(f"/connections/{connection_id}")).text
    assert "robot" in detail
    assert "new-password-42" not in detail

    deleted = await post_form(
        owner, f"/connections/{connection_id}", f"/connections/{connection_id}/delete"
    )
    assert deleted.status_code == 303, deleted.text
    assert deleted.headers["location"] == "/connections"
    assert (await owner.get(f"/api/connections/{connection_id}")).status_code == 404
    assert "No connections yet" in (await owner.get("/connections")).text


async def test_refusals_show_the_form_again_without_the_credential(owner: ApiClient) -> None:
    bad_glob = await _create(owner, authorized_uris="ftp://crm.example.com/")
    assert bad_glob.status_code == 422
    assert "authorized_uris" in bad_glob.text
    assert 'value="crm"' in bad_glob.text
    assert SECRET not in bad_glob.text
    no_name = await _create(owner, auth_name="")
    assert no_name.status_code == 422
    assert SECRET not in no_name.text
    unknown_user = await _create(owner, end_user_id="eu_nobody")
    assert unknown_user.status_code == 404
    assert "end-user not found" in unknown_user.text
    assert SECRET not in unknown_user.text

    assert (await _create(owner)).status_code == 303
    taken = await _create(owner)
    assert taken.status_code == 409
    assert "exists for this owner" in taken.text
    assert SECRET not in taken.text
    assert len((await owner.get("/api/connections")).json()["data"]) == 1


async def test_a_viewer_sees_no_controls_and_forged_posts_are_refused(
    app: FastAPI, owner: ApiClient
) -> None:
    connection_id = (await _create(owner)).headers["location"].removeprefix("/connections/")
    async with member(app, owner, "vera@example.com", "viewer") as vera:
        for path in ("/connections", f"/connections/{connection_id}"):
            page = await vera.get(path)
            assert page.status_code == 200
            assert "crm" in page.text
            assert 'method="post" action="/connections' not in page.text
        for action, fields in (
            ("/connections", NEW),
            (f"/connections/{connection_id}", {"description": "x", "authorized_uris": "x"}),
            (f"/connections/{connection_id}/delete", {}),
        ):
            forged = await post_form(vera, "/connections", action, **fields)
            assert forged.status_code == 403, action
            assert "connections:write" in forged.text
    assert (await owner.get(f"/api/connections/{connection_id}")).json()["description"] == (
        "the CRM"
    )


async def test_another_organization_gets_not_found(owner: ApiClient, stranger: ApiClient) -> None:
    connection_id = (await _create(owner)).headers["location"].removeprefix("/connections/")
    assert connection_id not in (await stranger.get("/connections")).text
    assert (await stranger.get(f"/connections/{connection_id}")).status_code == 404
    for action in (f"/connections/{connection_id}", f"/connections/{connection_id}/delete"):
        attempt = await post_form(
            stranger, "/connections", action, authorized_uris="https://x.example/"
        )
        assert attempt.status_code == 404, action
        assert "connection not found" in attempt.text
    assert (await owner.get(f"/api/connections/{connection_id}")).status_code == 200


async def test_a_post_without_the_token_is_refused(owner: ApiClient) -> None:
    owner.headers.pop("X-CSRF-Token")
    for extra in ({}, {"csrf_token": "guessed"}):
        refused = await owner.post("/connections", data={**NEW, **extra})
        assert refused.status_code == 403
        assert "security token" in refused.text
    assert "No connections yet" in (await owner.get("/connections")).text


async def test_signed_out_goes_to_sign_in(client: ApiClient) -> None:
    answer = await client.get("/connections")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/sign-in?next=%2Fconnections"
