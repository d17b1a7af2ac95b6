"""The audit log page: filters, pages, each event's details, and the chain's verification."""

from __future__ import annotations

import pytest
from fastapi import FastAPI

from tests.audit import tamper
from tests.clients import ApiClient
from tests.web.admin import ESCAPED_XSS, XSS, add_member, signed_in


async def test_events_with_filters_details_and_pages(
    app: FastAPI, owner: ApiClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("one", "two", "three"):
        await owner.create_key(["runs:read"], name=name)
    async with signed_in(app, owner.email) as browser:
        page = await browser.get("/audit")
        assert page.status_code == 200
        assert "<h1>Audit log</h1>" in page.text
        assert 'href="/audit" aria-current="page"' in page.text
        filtered = await browser.get("/audit", params={"action": "api_key.created"})
        assert filtered.text.count('data-testid="audit-event"') == 3
        assert "&#34;scopes&#34;" in filtered.text or "runs:read" in filtered.text
        none = await browser.get(
            "/audit", params={"action": "api_key.created", "outcome": "denied"}
        )
        assert "No events match" in none.text
        future = await browser.get(
            "/audit", params={"action": "api_key.created", "since": "2999-01-01T00:00"}
        )
        assert "No events match" in future.text
        bad_time = await browser.get("/audit", params={"since": "yesterday"})
        assert bad_time.status_code == 422
        assert bad_time.headers["content-type"].startswith("text/html")

        monkeypatch.setattr("corral.web.routes.audit_log.PAGE_SIZE", 2)
        first = await browser.get("/audit", params={"action": "api_key.created"})
        assert first.text.count('data-testid="audit-event"') == 2
        older = first.text.split('rel="next"')[0].rsplit('href="', 1)[1].split('"')[0]
        assert "action=api_key.created" in older
        second = await browser.get(older.replace("&amp;", "&"))
        assert second.text.count('data-testid="audit-event"') == 1
        assert "Newest" in second.text

        echoed = await browser.get("/audit", params={"action": XSS})
        assert XSS not in echoed.text
        assert ESCAPED_XSS in echoed.text


async def test_verify_chain_reports_ok_then_the_first_bad_event(
    app: FastAPI, owner: ApiClient, database_url: str
) -> None:
    for name in ("one", "two", "three"):
        await owner.create_key(["runs:read"], name=name)
    async with signed_in(app, owner.email) as browser:
        page = await browser.get("/audit")
        assert 'hx-get="/audit/verify"' in page.text
        ok = await browser.get(
            "/audit/verify", params={"chain": "application"}, headers={"HX-Request": "true"}
        )
        assert ok.status_code == 200
        assert "Chain intact: 4 events checked (#1–#4)" in ok.text
        assert "<html" not in ok.text
        tamper.tamper(database_url, tamper.modify(owner.app_id, 2))
        broken = await browser.get("/audit/verify")
        assert "<h1>Audit chain verification</h1>" in broken.text
        assert "Chain broken at event #2: row_hash_mismatch" in broken.text
        org_chain = await browser.get("/audit/verify", params={"chain": "organization"})
        assert "Chain intact" in org_chain.text


async def test_audit_needs_audit_read_and_shows_only_this_application(
    app: FastAPI, owner: ApiClient, stranger: ApiClient
) -> None:
    await stranger.create_key(["runs:read"], name="stranger-key")
    await add_member(app, owner, "vera@example.com", "viewer")
    async with signed_in(app, "vera@example.com") as browser:
        assert 'href="/audit"' not in (await browser.get("/")).text
        refused = await browser.get("/audit")
        assert refused.status_code == 403
        assert (await browser.get("/audit/verify")).status_code == 403
    async with signed_in(app, owner.email) as browser:
        page = await browser.get("/audit", params={"action": "api_key.created"})
        assert "No events match" in page.text
        org = await browser.get("/audit", params={"chain": "organization"})
        assert stranger.org_id not in org.text
        assert owner.org_id in org.text
