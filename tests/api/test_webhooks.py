"""Webhooks API: endpoints with once-shown secrets, signed deliveries, retries, replay, rotation."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import select, text
from standardwebhooks import Webhook

from corral.api.app import create_app
from corral.core.crypto import EncryptionKeyring
from corral.core.db import transaction
from corral.core.settings import Settings
from corral.secrets_at_rest import reencrypt_all
from corral.webhooks.models import WebhookEndpoint
from corral.webhooks.outbox import emit
from tests.clients import ApiClient, asgi_client
from tests.conftest import make_settings
from tests.local_http import Answer, LocalServer, Received, serving
from tests.traces.support import container_of

WEBHOOKS = {"allow_private_targets": True, "max_attempts": 2, "backoff_base_seconds": 0.001}


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return make_settings(tmp_path, database_url, webhooks=WEBHOOKS)


@pytest.fixture
def receiver() -> Iterator[LocalServer]:
    with serving() as server:
        yield server


async def create(client: ApiClient, url: str, **changes: Any) -> dict[str, Any]:
    response = await client.post("/api/webhooks", json={"url": url, **changes})
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()
    return data


async def emit_event(
    app: FastAPI, client: ApiClient, event_type: Any = "run.succeeded", **data: Any
) -> str | None:
    async with transaction(container_of(app).sessions) as session:
        message = await emit(
            session,
            org_id=client.org_id,
            application_id=client.app_id,
            event_type=event_type,
            data={"run_id": "run_test", **data},
        )
    return None if message is None else message.id


async def deliver(app: FastAPI) -> int:
    return await container_of(app).webhook_sender.deliver_due()


async def test_the_secret_is_shown_once_and_stored_encrypted(
    app: FastAPI, owner: ApiClient, receiver: LocalServer
) -> None:
    created = await create(owner, receiver.url("/hook"), description="ops")
    secret = created["secret"]
    assert secret.startswith("whsec_")
    assert "secret" not in (await owner.get(f"/api/webhooks/{created['id']}")).json()
    listed = (await owner.get("/api/webhooks")).json()["data"]
    assert [e["id"] for e in listed] == [created["id"]]
    assert "secret" not in listed[0]
    async with container_of(app).sessions() as session:
        raw = (await session.execute(text("SELECT * FROM webhook_endpoints"))).mappings().one()
        events = (await session.execute(text("SELECT * FROM audit_events"))).mappings().all()
    assert secret not in json.dumps({k: str(v) for k, v in raw.items()})
    assert secret[6:] not in json.dumps([{k: str(v) for k, v in e.items()} for e in events])


async def test_an_event_is_delivered_signed_and_verifiable(
    app: FastAPI, owner: ApiClient, receiver: LocalServer
) -> None:
    created = await create(owner, receiver.url("/hook"))
    message_id = await emit_event(app, owner, status="succeeded")
    assert message_id is not None
    assert await deliver(app) == 1
    [got] = receiver.received
    assert got.headers["webhook-id"] == message_id
    payload = Webhook(created["secret"]).verify(got.body, got.headers)
    assert payload["type"] == "run.succeeded"
    assert payload["data"] == {"run_id": "run_test", "status": "succeeded"}
    deliveries = (await owner.get(f"/api/webhooks/{created['id']}/deliveries")).json()["data"]
    assert [(d["status"], d["attempts"], d["last_status_code"]) for d in deliveries] == [
        ("succeeded", 1, 200)
    ]
    assert deliveries[0]["message_id"] == message_id
    assert await deliver(app) == 0, "a succeeded delivery is not sent again"


async def test_the_event_filter_and_the_enabled_switch_decide_what_is_queued(
    app: FastAPI, owner: ApiClient, receiver: LocalServer
) -> None:
    only_halts = await create(owner, receiver.url("/halts"), event_types=["halt.created"])
    await create(owner, receiver.url("/off"), enabled=False)
    assert await emit_event(app, owner, "run.failed") is None
    assert await emit_event(app, owner, "halt.created") is not None
    await deliver(app)
    assert [r.path for r in receiver.received] == ["/halts"]
    bad = await owner.post("/api/webhooks", json={"url": receiver.url(), "event_types": ["nope"]})
    assert bad.status_code == 422
    changed = await owner.patch(f"/api/webhooks/{only_halts['id']}", json={"enabled": False})
    assert changed.json()["enabled"] is False
    assert await emit_event(app, owner, "halt.created") is None


async def test_failures_back_off_then_dead_letter_and_replay_delivers(
    app: FastAPI, owner: ApiClient, receiver: LocalServer
) -> None:
    answers = [Answer(status=500, body=b"boom"), Answer(status=503), Answer()]

    def flaky(_: Received) -> Answer:
        return answers.pop(0)

    receiver.routes["/hook"] = flaky
    created = await create(owner, receiver.url("/hook"))
    base = f"/api/webhooks/{created['id']}/deliveries"
    await emit_event(app, owner)
    assert await deliver(app) == 1
    [pending] = (await owner.get(base)).json()["data"]
    assert (pending["status"], pending["attempts"], pending["last_error"]) == ("pending", 1, "boom")
    assert await deliver(app) == 1
    [dead] = (await owner.get(base)).json()["data"]
    assert (dead["status"], dead["attempts"], dead["last_status_code"]) == ("dead", 2, 503)
    detail = (await owner.get(f"{base}/{dead['id']}")).json()
    assert [a["status_code"] for a in detail["history"]] == [500, 503]
    assert detail["payload"]["type"] == "run.succeeded"
    assert await deliver(app) == 0, "a dead delivery is not attempted again"

    replayed = await owner.post(f"{base}/{dead['id']}/replay")
    assert replayed.status_code == 202, replayed.text
    assert replayed.json()["message_id"] == dead["message_id"]
    again = await owner.post(f"{base}/{replayed.json()['id']}/replay")
    assert again.status_code == 409
    assert again.json()["code"] == "webhook_delivery_pending"
    assert await deliver(app) == 1
    ids = {r.headers["webhook-id"] for r in receiver.received}
    assert ids == {dead["message_id"]}, "a replay keeps the webhook-id receivers dedupe on"
    statuses = [d["status"] for d in (await owner.get(base)).json()["data"]]
    assert statuses == ["succeeded", "dead"]


async def test_rotation_signs_with_both_secrets_until_the_overlap_ends(
    app: FastAPI, owner: ApiClient, receiver: LocalServer
) -> None:
    created = await create(owner, receiver.url("/hook"))
    rotated = await owner.post(f"/api/webhooks/{created['id']}/rotate-secret", json={})
    assert rotated.status_code == 200, rotated.text
    new_secret = rotated.json()["secret"]
    assert new_secret != created["secret"]
    assert rotated.json()["previous_secret_expires_at"] is not None
    await emit_event(app, owner)
    await deliver(app)
    got = receiver.received[-1]
    Webhook(created["secret"]).verify(got.body, got.headers)
    Webhook(new_secret).verify(got.body, got.headers)

    final = await owner.post(
        f"/api/webhooks/{created['id']}/rotate-secret", json={"overlap_seconds": 0}
    )
    await emit_event(app, owner)
    await deliver(app)
    got = receiver.received[-1]
    assert len(got.headers["webhook-signature"].split(" ")) == 1
    Webhook(final.json()["secret"]).verify(got.body, got.headers)


async def test_a_receiver_that_redirects_has_failed(
    app: FastAPI, owner: ApiClient, receiver: LocalServer
) -> None:
    receiver.routes["/hook"] = lambda _: Answer(status=307, headers={"Location": "/elsewhere"})
    created = await create(owner, receiver.url("/hook"))
    await emit_event(app, owner)
    await deliver(app)
    [delivery] = (await owner.get(f"/api/webhooks/{created['id']}/deliveries")).json()["data"]
    assert delivery["status"] == "pending"
    assert "egress_too_many_redirects" in delivery["last_error"]
    assert [r.path for r in receiver.received] == ["/hook"]


@pytest.fixture
async def guarded_app(tmp_path: Path, database_url: str) -> AsyncIterator[FastAPI]:
    """The app with the default SSRF guard: private targets refused."""
    settings = make_settings(tmp_path, database_url)
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


async def test_private_targets_are_refused_unless_allowed(
    guarded_app: FastAPI, receiver: LocalServer
) -> None:
    async with asgi_client(guarded_app) as owner:
        await owner.register("owner@example.com", org="Acme")
        literal = await owner.post("/api/webhooks", json={"url": receiver.url("/hook")})
        assert literal.status_code == 422
        assert literal.json()["code"] == "webhook_target_refused"
        # A name is only resolved when sending: the guard refuses it there, every attempt.
        named = await create(owner, receiver.url("/hook", host="localhost"))
        await emit_event(guarded_app, owner)
        await deliver(guarded_app)
        [delivery] = (await owner.get(f"/api/webhooks/{named['id']}/deliveries")).json()["data"]
    assert "egress_address_refused" in delivery["last_error"]
    assert receiver.received == []


async def test_another_organization_cannot_see_or_touch_endpoints(
    app: FastAPI, owner: ApiClient, stranger: ApiClient, receiver: LocalServer
) -> None:
    created = await create(owner, receiver.url("/hook"))
    await emit_event(app, owner)
    await deliver(app)
    [delivery] = (await owner.get(f"/api/webhooks/{created['id']}/deliveries")).json()["data"]
    base = f"/api/webhooks/{created['id']}"
    assert (await stranger.get("/api/webhooks")).json()["data"] == []
    for method, path in [
        ("GET", base),
        ("PATCH", base),
        ("DELETE", base),
        ("POST", f"{base}/rotate-secret"),
        ("GET", f"{base}/deliveries"),
        ("GET", f"{base}/deliveries/{delivery['id']}"),
        ("POST", f"{base}/deliveries/{delivery['id']}/replay"),
    ]:
        body: dict[str, Any] | None = {} if method in ("PATCH", "POST") else None
        response = await stranger.request(method, path, json=body)
        assert response.status_code == 404, (method, path, response.text)
    own = await create(stranger, receiver.url("/other"))
    crossed = await owner.get(f"/api/webhooks/{own['id']}/deliveries/{delivery['id']}")
    assert crossed.status_code == 404
    async with container_of(app).sessions() as session:
        stored = await session.scalar(
            select(WebhookEndpoint).where(WebhookEndpoint.id == own["id"])
        )
    assert stored is not None
    assert stored.enabled


async def test_a_viewer_reads_but_cannot_change_endpoints(
    app: FastAPI, owner: ApiClient, receiver: LocalServer
) -> None:
    created = await create(owner, receiver.url("/hook"))
    key = await owner.create_key(["webhooks:read"])
    async with asgi_client(app, token=key["key"]) as reader:
        assert (await reader.get(f"/api/webhooks/{created['id']}")).status_code == 200
        refused = await reader.post(f"/api/webhooks/{created['id']}/rotate-secret", json={})
        assert refused.status_code == 403
        assert (await reader.delete(f"/api/webhooks/{created['id']}")).status_code == 403


async def test_a_test_event_reaches_only_the_endpoint_tried(
    app: FastAPI, owner: ApiClient, receiver: LocalServer
) -> None:
    tried = await create(owner, receiver.url("/tried"), event_types=["halt.created"])
    await create(owner, receiver.url("/other"))
    queued = await owner.post(f"/api/webhooks/{tried['id']}/test")
    assert queued.status_code == 202, queued.text
    assert queued.json()["event_type"] == "webhook.test"
    await deliver(app)
    [got] = receiver.received
    assert got.path == "/tried"
    assert Webhook(tried["secret"]).verify(got.body, got.headers)["type"] == "webhook.test"


async def test_reencryption_moves_both_secrets_of_a_rotating_endpoint(
    app: FastAPI, owner: ApiClient, receiver: LocalServer
) -> None:
    created = await create(owner, receiver.url("/hook"))
    rotated = (await owner.post(f"/api/webhooks/{created['id']}/rotate-secret", json={})).json()
    container = container_of(app)
    new_keys = EncryptionKeyring((("k9", b"\x09" * 32), *container.secrets.encryption_keys))
    reports = {r.column: r for r in await reencrypt_all(container.sessions, new_keys)}
    assert reports["webhook_endpoints.secret_ciphertext"].reencrypted == 1
    assert reports["webhook_endpoints.previous_secret_ciphertext"].reencrypted == 1
    # From now on only the new key exists: both secrets must have moved to it.
    container.keyring = EncryptionKeyring((("k9", b"\x09" * 32),))
    await container.webhook_sender.aclose()
    container.webhook_sender = type(container.webhook_sender)(
        container.sessions, container.keyring, container.settings.webhooks
    )
    await emit_event(app, owner)
    assert await deliver(app) == 1
    got = receiver.received[-1]
    Webhook(created["secret"]).verify(got.body, got.headers)
    Webhook(rotated["secret"]).verify(got.body, got.headers)
