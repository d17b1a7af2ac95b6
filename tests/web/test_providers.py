"""The Model providers pages: the system's read-only beside the application's own (create, edit,
keep or replace the key, delete); keys never rendered back; permissions, tenants, CSRF."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI

from corral.core.db import transaction
from corral.core.settings import Settings
from corral.providers import keys
from corral.providers.models import ApplicationProvider
from tests.api.approvals_support import member
from tests.api.test_providers import SYSTEM, SYSTEM_SECRET
from tests.clients import ApiClient
from tests.conftest import make_settings
from tests.traces.support import container_of
from tests.web.admin import ESCAPED_XSS, XSS
from tests.web.support import post_form

KEY = "sk-app-do-not-leak-0123456789abcd"
NEW = {
    "label": "Our Anthropic",
    "api": "anthropic-messages",
    "base_url": "https://api.anthropic.example/v1/",
    "models": "claude-a\nclaude-b, claude-a",
    "api_key": KEY,
}


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return make_settings(tmp_path, database_url, system_provider_keys=[SYSTEM])


async def _create(client: ApiClient, **fields: str) -> Any:
    return await post_form(client, "/providers", "/providers", **{**NEW, **fields})


async def _stored_key(app: FastAPI, provider_id: str) -> str:
    container = container_of(app)
    async with transaction(container.sessions) as session:
        provider = await session.get(ApplicationProvider, provider_id)
        assert provider is not None
        return keys.open_key(container.keyring, provider)


async def test_create_edit_keep_and_replace_the_key_then_delete(
    app: FastAPI, owner: ApiClient
) -> None:
    created = await _create(owner, label=XSS)
    assert created.status_code == 303, created.text
    provider_id = created.headers["location"].removeprefix("/providers/")
    assert provider_id.startswith("prov_")
    read = (await owner.get(f"/api/providers/{provider_id}")).json()
    assert (read["base_url"], read["models"], read["key_hint"]) == (
        "https://api.anthropic.example/v1",
        ["claude-a", "claude-b"],
        "abcd",
    )

    listed = (await owner.get("/providers")).text
    detail = (await owner.get(f"/providers/{provider_id}")).text
    for page in (listed, detail):
        assert KEY not in page
        assert SYSTEM_SECRET not in page
        assert XSS not in page
        assert ESCAPED_XSS in page
        assert "ends in <code>abcd</code>" in page
    assert "OpenAI (system)" in listed
    assert "Delete provider" in detail

    kept = await post_form(
        owner,
        f"/providers/{provider_id}",
        f"/providers/{provider_id}",
        label="renamed",
        api="openai-chat",
        base_url="https://api.other.example/v1",
        models="gpt-x",
        api_key="",
    )
    assert kept.status_code == 303, kept.text
    read = (await owner.get(f"/api/providers/{provider_id}")).json()
    assert (read["label"], read["api"], read["models"]) == ("renamed", "openai-chat", ["gpt-x"])
    assert await _stored_key(app, provider_id) == KEY

    replaced = await post_form(
        owner,
        f"/providers/{provider_id}",
        f"/providers/{provider_id}",
        label="renamed",
        api="openai-chat",
        base_url="https://api.other.example/v1",
        models="gpt-x",
        api_key="short-key",
    )
    assert replaced.status_code == 303, replaced.text
    assert await _stored_key(app, provider_id) == "short-key"
    detail = (await owner.get(f"/providers/{provider_id}")).text
    assert "short-key" not in detail
    assert ">set <" in detail  # too short to show any of it

    deleted = await post_form(
        owner, f"/providers/{provider_id}", f"/providers/{provider_id}/delete"
    )
    assert deleted.status_code == 303, deleted.text
    assert (await owner.get(f"/api/providers/{provider_id}")).status_code == 404


async def test_system_providers_are_read_only(owner: ApiClient) -> None:
    page = await owner.get("/providers/openai")
    assert page.status_code == 200
    assert 'data-testid="read-only"' in page.text
    assert 'action="/providers/openai' not in page.text
    assert SYSTEM_SECRET not in page.text
    for action in ("/providers/openai", "/providers/openai/delete"):
        refused = await post_form(owner, "/providers", action, **NEW)
        assert refused.status_code == 409, action
        assert "read-only" in refused.text


async def test_refusals_show_the_form_again_without_the_key(owner: ApiClient) -> None:
    no_models = await _create(owner, models="")
    assert no_models.status_code == 422
    assert "models" in no_models.text
    assert 'value="Our Anthropic"' in no_models.text
    assert KEY not in no_models.text
    bad_url = await _create(owner, base_url="ftp://x.example")
    assert bad_url.status_code == 422
    assert KEY not in bad_url.text
    assert (await owner.get("/api/providers")).json()["data"][1:] == []


async def test_a_viewer_sees_no_controls_and_forged_posts_are_refused(
    app: FastAPI, owner: ApiClient
) -> None:
    provider_id = (await _create(owner)).headers["location"].removeprefix("/providers/")
    async with member(app, owner, "vera@example.com", "viewer") as vera:
        for path in ("/providers", f"/providers/{provider_id}"):
            page = await vera.get(path)
            assert page.status_code == 200
            assert "Our Anthropic" in page.text
            assert 'method="post" action="/providers' not in page.text
        for action in (
            "/providers",
            f"/providers/{provider_id}",
            f"/providers/{provider_id}/delete",
        ):
            forged = await post_form(vera, "/providers", action, **NEW)
            assert forged.status_code == 403, action
            assert "providers:write" in forged.text
    assert (await owner.get(f"/api/providers/{provider_id}")).status_code == 200


async def test_another_organization_gets_not_found(owner: ApiClient, stranger: ApiClient) -> None:
    provider_id = (await _create(owner)).headers["location"].removeprefix("/providers/")
    assert provider_id not in (await stranger.get("/providers")).text
    assert (await stranger.get(f"/providers/{provider_id}")).status_code == 404
    for action in (f"/providers/{provider_id}", f"/providers/{provider_id}/delete"):
        attempt = await post_form(stranger, "/providers", action, **NEW)
        assert attempt.status_code == 404, action
        assert "provider not found" in attempt.text
    assert (await owner.get(f"/api/providers/{provider_id}")).status_code == 200


async def test_a_post_without_the_token_is_refused(owner: ApiClient) -> None:
    owner.headers.pop("X-CSRF-Token")
    refused = await owner.post("/providers", data=NEW)
    assert refused.status_code == 403
    assert "security token" in refused.text
    assert 'data-testid="provider"' not in (await owner.get("/providers")).text


async def test_signed_out_goes_to_sign_in(client: ApiClient) -> None:
    answer = await client.get("/providers")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/sign-in?next=%2Fproviders"
