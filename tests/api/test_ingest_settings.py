"""`/api/settings/ingest`: per-application redaction, sampling and retention settings."""

from __future__ import annotations

from fastapi import FastAPI
from sqlalchemy import select

from corral.audit.models import AuditEvent
from tests.clients import ApiClient, asgi_client
from tests.traces.support import container_of


async def test_defaults_before_anything_is_set(owner: ApiClient) -> None:
    response = await owner.get("/api/settings/ingest")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["application_id"] == owner.app_id
    assert body["revision"] == 0
    assert body["updated_at"] is None
    assert body["sampling_rate"] is None
    assert body["effective_sampling_rate"] == 1.0
    assert body["retention_days"] is None
    assert body["effective_retention_days"] == 30
    assert body["redaction"] == {
        "enabled": True,
        "credentials": True,
        "pii_entities": ["credit_card", "email", "iban", "us_ssn"],
        "allowlist": [],
        "key_actions": {},
        "actions": {},
        "default_action": "redact",
        "disabled_detectors": [],
    }


async def test_patch_changes_only_what_is_sent(owner: ApiClient) -> None:
    first = await owner.patch(
        "/api/settings/ingest", json={"sampling_rate": 0.25, "retention_days": 7}
    )
    assert first.status_code == 200, first.text
    assert first.json()["revision"] == 1
    redaction = {
        "pii_entities": ["email", "phone"],
        "allowlist": ["gen_ai.request.model"],
        "key_actions": {"user.email": "hash", "gen_ai.prompt.*": "delete"},
        "actions": {"pii": "mask"},
    }
    second = await owner.patch("/api/settings/ingest", json={"redaction": redaction})
    assert second.status_code == 200, second.text
    body = second.json()
    assert body["revision"] == 2
    assert (body["sampling_rate"], body["retention_days"]) == (0.25, 7)
    assert body["effective_retention_days"] == 7
    assert body["redaction"]["key_actions"] == redaction["key_actions"]
    assert body["redaction"]["pii_entities"] == ["email", "phone"]
    assert body["redaction"]["enabled"] is True  # left out: the default
    assert (await owner.get("/api/settings/ingest")).json() == body


async def test_invalid_settings_are_refused(owner: ApiClient) -> None:
    for payload, code in [
        ({"redaction": {"pii_entities": ["passport"]}}, "invalid_redaction_settings"),
        ({"redaction": {"pii_entities": ["jwt"]}}, "invalid_redaction_settings"),
        ({"redaction": {"actions": {"nonsense": "redact"}}}, "invalid_redaction_settings"),
        ({"redaction": {"allowlist": ["a*b"]}}, "invalid_redaction_settings"),
        ({"redaction": {"key_actions": {"k": "shred"}}}, "validation_error"),
        ({"sampling_rate": 1.5}, "validation_error"),
        ({"retention_days": -1}, "validation_error"),
        ({"unknown": True}, "validation_error"),
    ]:
        response = await owner.patch("/api/settings/ingest", json=payload)
        assert response.status_code == 422, (payload, response.text)
        assert response.json()["code"] == code, payload
    assert (await owner.get("/api/settings/ingest")).json()["revision"] == 0


async def test_reset_puts_defaults_back_and_keeps_counting(owner: ApiClient) -> None:
    await owner.patch(
        "/api/settings/ingest",
        json={"sampling_rate": 0.1, "redaction": {"enabled": False}},
    )
    response = await owner.delete("/api/settings/ingest")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["revision"] == 2
    assert body["sampling_rate"] is None
    assert body["redaction"]["enabled"] is True


async def test_scopes_and_audit(owner: ApiClient, app: FastAPI) -> None:
    reader = await owner.create_key(["settings:read"])
    async with asgi_client(app, token=reader["key"]) as c:
        assert (await c.get("/api/settings/ingest")).status_code == 200
        denied = await c.patch("/api/settings/ingest", json={"sampling_rate": 0.5})
        assert denied.status_code == 403
        assert (await c.delete("/api/settings/ingest")).status_code == 403
    nothing = await owner.create_key(["traces:read"])
    async with asgi_client(app, token=nothing["key"]) as c:
        assert (await c.get("/api/settings/ingest")).status_code == 403
        assert (await c.get("/api/settings/ingest/detectors")).status_code == 403

    await owner.patch("/api/settings/ingest", json={"retention_days": 3})
    await owner.delete("/api/settings/ingest")
    async with container_of(app).sessions() as session:
        events = (
            await session.scalars(
                select(AuditEvent).where(AuditEvent.action.like("ingest_settings.%"))
            )
        ).all()
    assert [e.action for e in events] == ["ingest_settings.updated", "ingest_settings.reset"]
    assert events[0].details == {"changed": ["retention_days"], "revision": 1}
    assert events[0].application_id == owner.app_id


async def test_detectors_are_listed(owner: ApiClient) -> None:
    detectors = (await owner.get("/api/settings/ingest/detectors")).json()
    by_id = {d["id"]: d for d in detectors}
    assert by_id["github_pat"]["kind"] == "credential"
    assert by_id["email"]["enabled_by_default"] is True
    assert by_id["phone"]["enabled_by_default"] is False
