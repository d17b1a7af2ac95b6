"""Ingest applies the application's own settings, from the next export on."""

from __future__ import annotations

from fastapi import FastAPI

from tests.clients import ApiClient
from tests.telemetry import otlp_builders as otlp
from tests.traces.support import send_and_store

SECRET = "ghp_a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"


async def test_settings_apply_to_the_next_export(writer: ApiClient, app: FastAPI) -> None:
    attributes = {
        "user.email": "jane@example.com",
        "gen_ai.prompt.0.content": f"use {SECRET}",
        "debug.raw": f"token {SECRET}",
        "note": "call jane@example.com",
        "corral.end_user.id": "jane@example.com",
    }
    await send_and_store(app, writer, [otlp.span(name="before", attributes=attributes)])
    redaction = {
        "allowlist": ["debug.*"],
        "key_actions": {"user.email": "hash", "gen_ai.prompt.*": "delete"},
        "actions": {"email": "mask"},
    }
    response = await writer.patch("/api/settings/ingest", json={"redaction": redaction})
    assert response.status_code == 200, response.text
    later = otlp.span(name="after", span_id=bytes(7) + b"\x09", attributes=attributes)
    await send_and_store(app, writer, [later])

    spans = (await writer.get(f"/api/traces/{otlp.TRACE_ID.hex()}")).json()["spans"]
    before = next(s for s in spans if s["name"] == "before")
    after = next(s for s in spans if s["name"] == "after")
    assert before["attributes"]["user.email"] == "[REDACTED:email]"
    assert before["attributes"]["debug.raw"] == "token [REDACTED:github_pat]"
    assert before["end_user_id"] == "[REDACTED:email]"
    hashed = after["attributes"]["user.email"]
    assert hashed.startswith("hash:")
    assert "gen_ai.prompt.0.content" not in after["attributes"]
    assert after["attributes"]["debug.raw"] == f"token {SECRET}"
    assert after["attributes"]["note"] == "call ************.com"
    # Derived columns hold what survived redaction, never the value as sent.
    assert after["end_user_id"] == "************.com"

    # Hashes are stable within an application, so equal values stay joinable.
    again = otlp.span(name="again", span_id=bytes(7) + b"\x0a", attributes=attributes)
    await send_and_store(app, writer, [again])
    spans = (await writer.get(f"/api/traces/{otlp.TRACE_ID.hex()}")).json()["spans"]
    assert next(s for s in spans if s["name"] == "again")["attributes"]["user.email"] == hashed
