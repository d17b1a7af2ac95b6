"""The webhooks pages: endpoints with the secret shown once, edit, test, rotate, delete;
deliveries with their attempts, and replay."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from standardwebhooks import Webhook

from corral.core.settings import Settings
from tests.api.test_webhooks import WEBHOOKS, create, deliver
from tests.clients import ApiClient
from tests.conftest import make_settings
from tests.local_http import LocalServer, serving
from tests.web.admin import ESCAPED_XSS, XSS, add_member, signed_in
from tests.web.forms import csrf_of

_SECRET = re.compile(r"whsec_[A-Za-z0-9+/=]{20,}")
_DELIVERY = re.compile(r'/deliveries/(dlv_[A-Za-z0-9_-]+)"')


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return make_settings(tmp_path, database_url, webhooks=WEBHOOKS)


@pytest.fixture
def receiver() -> Iterator[LocalServer]:
    with serving() as server:
        yield server


async def test_create_shows_the_secret_once_then_test_delivery_and_replay(
    app: FastAPI, owner: ApiClient, receiver: LocalServer
) -> None:
    async with signed_in(app, owner.email) as browser:
        page = await browser.get("/webhooks")
        assert page.status_code == 200
        assert "Add an endpoint" in page.text
        created = await browser.post(
            "/webhooks",
            data={
                "csrf_token": csrf_of(page),
                "url": receiver.url("/hook"),
                "description": XSS,
                "event_types": ["halt.created", "run.failed"],
            },
        )
        assert created.status_code == 200, created.text
        secret = _SECRET.search(created.text)
        assert secret is not None
        assert XSS not in created.text
        assert ESCAPED_XSS in created.text
        endpoint_id = (await owner.get("/api/webhooks")).json()["data"][0]["id"]
        detail = await browser.get(f"/webhooks/{endpoint_id}")
        assert secret.group(0) not in detail.text
        assert "halt.created" in detail.text

        token = csrf_of(detail)
        queued = await browser.post(f"/webhooks/{endpoint_id}/test", data={"csrf_token": token})
        assert queued.status_code == 303
        assert queued.headers["location"] == f"/webhooks/{endpoint_id}"
        await deliver(app)
        [got] = receiver.received
        assert Webhook(secret.group(0)).verify(got.body, got.headers)["type"] == "webhook.test"

        listed = await browser.get(f"/webhooks/{endpoint_id}")
        assert "webhook.test" in listed.text
        assert "succeeded" in listed.text
        found = _DELIVERY.search(listed.text)
        assert found is not None
        delivery_id = found.group(1)
        attempts = await browser.get(f"/webhooks/{endpoint_id}/deliveries/{delivery_id}")
        assert attempts.status_code == 200
        assert attempts.text.count('data-testid="webhook-attempt"') == 1
        assert ">200<" in attempts.text
        replayed = await browser.post(
            f"/webhooks/{endpoint_id}/deliveries/{delivery_id}/replay",
            data={"csrf_token": token},
        )
        assert replayed.status_code == 303
        assert replayed.headers["location"] != f"/webhooks/{endpoint_id}/deliveries/{delivery_id}"
        await deliver(app)
        assert len(receiver.received) == 2
        assert receiver.received[1].headers["webhook-id"] == got.headers["webhook-id"]


async def test_edit_rotate_and_delete(
    app: FastAPI, owner: ApiClient, receiver: LocalServer
) -> None:
    endpoint = await create(owner, receiver.url("/hook"))
    href = f"/webhooks/{endpoint['id']}"
    async with signed_in(app, owner.email) as browser:
        token = csrf_of(await browser.get(href))
        saved = await browser.post(
            href,
            data={"csrf_token": token, "description": "ops", "event_types": ["halt.created"]},
        )
        assert saved.status_code == 303
        after = (await owner.get(f"/api{href}")).json()
        assert after["enabled"] is False
        assert after["event_types"] == ["halt.created"]
        assert after["description"] == "ops"

        rotated = await browser.post(f"{href}/rotate-secret", data={"csrf_token": token})
        assert rotated.status_code == 200
        new_secret = _SECRET.search(rotated.text)
        assert new_secret is not None
        assert new_secret.group(0) != endpoint["secret"]
        assert new_secret.group(0) not in (await browser.get(href)).text

        gone = await browser.post(f"{href}/delete", data={"csrf_token": token})
        assert gone.status_code == 303
        assert gone.headers["location"] == "/webhooks"
        assert (await browser.get(href)).status_code == 404


async def test_an_invalid_url_is_refused_with_a_page(app: FastAPI, owner: ApiClient) -> None:
    async with signed_in(app, owner.email) as browser:
        token = csrf_of(await browser.get("/webhooks"))
        refused = await browser.post("/webhooks", data={"csrf_token": token, "url": "ftp://x"})
        assert refused.status_code == 422
        assert refused.headers["content-type"].startswith("text/html")
    assert (await owner.get("/api/webhooks")).json()["data"] == []


async def test_a_viewer_reads_but_sees_no_controls_and_forged_posts_are_refused(
    app: FastAPI, owner: ApiClient, receiver: LocalServer
) -> None:
    endpoint = await create(owner, receiver.url("/hook"))
    await add_member(app, owner, "vera@example.com", "viewer")
    async with signed_in(app, "vera@example.com") as browser:
        listed = await browser.get("/webhooks")
        assert listed.status_code == 200
        assert receiver.url("/hook") in listed.text
        assert 'action="/webhooks"' not in listed.text
        detail = await browser.get(f"/webhooks/{endpoint['id']}")
        assert detail.status_code == 200
        for control in ("rotate-secret", "/delete", "/test", "Save"):
            assert control not in detail.text
        token = csrf_of(await browser.get("/"))
        for action in ("/delete", "/rotate-secret", "/test"):
            forged = await browser.post(
                f"/webhooks/{endpoint['id']}{action}", data={"csrf_token": token}
            )
            assert forged.status_code == 403, action
    assert (await owner.get(f"/api/webhooks/{endpoint['id']}")).status_code == 200


async def test_another_orgs_endpoint_is_not_found_and_csrf_is_required(
    app: FastAPI, owner: ApiClient, stranger: ApiClient, receiver: LocalServer
) -> None:
    theirs = await create(stranger, receiver.url("/theirs"))
    mine = await create(owner, receiver.url("/mine"))
    async with signed_in(app, owner.email) as browser:
        assert "/theirs" not in (await browser.get("/webhooks")).text
        assert (await browser.get(f"/webhooks/{theirs['id']}")).status_code == 404
        token = csrf_of(await browser.get("/webhooks"))
        for action in ("/delete", "/rotate-secret", "/test"):
            missing = await browser.post(
                f"/webhooks/{theirs['id']}{action}", data={"csrf_token": token}
            )
            assert missing.status_code == 404
        assert (await browser.post(f"/webhooks/{mine['id']}/delete", data={})).status_code == 403
    assert (await stranger.get(f"/api/webhooks/{theirs['id']}")).status_code == 200
    assert (await owner.get(f"/api/webhooks/{mine['id']}")).status_code == 200
