"""Tenant boundaries of ingest settings, prices and spans: another tenant's are invisible."""

from __future__ import annotations

from fastapi import FastAPI

from tests.clients import ApiClient, asgi_client
from tests.telemetry import otlp_builders as otlp
from tests.traces.support import WRITER_SCOPES, send_and_store


async def test_settings_of_another_org(owner: ApiClient, stranger: ApiClient) -> None:
    mine = await owner.patch("/api/settings/ingest", json={"retention_days": 3})
    assert mine.status_code == 200
    theirs = await stranger.patch("/api/settings/ingest", json={"sampling_rate": 0.0})
    assert theirs.status_code == 200
    assert theirs.json()["application_id"] == stranger.app_id
    assert theirs.json()["retention_days"] is None
    header = {"Corral-Application": owner.app_id}
    for method in ("GET", "PATCH", "DELETE"):
        body = {"sampling_rate": 0.0} if method == "PATCH" else None
        response = await stranger.request(method, "/api/settings/ingest", json=body, headers=header)
        assert response.status_code == 404, (method, response.text)
        assert response.json()["code"] == "application_not_found"
    ours = (await owner.get("/api/settings/ingest")).json()
    assert (ours["retention_days"], ours["sampling_rate"], ours["revision"]) == (3, None, 1)


async def test_prices_of_another_org(owner: ApiClient, stranger: ApiClient) -> None:
    assert (
        await owner.put("/api/prices/gpt-4o", json={"input": 1, "output": 1})
    ).status_code == 200
    assert (await stranger.get("/api/prices")).json()["overrides"] == 0
    assert (await stranger.get("/api/prices/gpt-4o")).json()["source"] == "catalog"
    assert (await stranger.delete("/api/prices/gpt-4o")).status_code == 404
    header = {"Corral-Application": owner.app_id}
    assert (await stranger.get("/api/prices", headers=header)).status_code == 404
    assert (await stranger.delete("/api/prices/gpt-4o", headers=header)).status_code == 404
    assert (await owner.get("/api/prices/gpt-4o")).json()["source"] == "override"


async def test_another_application_of_the_same_org(owner: ApiClient, app: FastAPI) -> None:
    """Settings and prices belong to one application, not to the organization."""
    second = (await owner.post("/api/apps", json={"name": "second"})).json()["id"]
    header = {"Corral-Application": second}
    await owner.put("/api/prices/gpt-4o", json={"input": 1, "output": 1})
    await owner.patch("/api/settings/ingest", json={"sampling_rate": 0.0})
    assert (await owner.get("/api/prices", headers=header)).json()["overrides"] == 0
    other = (await owner.get("/api/settings/ingest", headers=header)).json()
    assert (other["application_id"], other["sampling_rate"]) == (second, None)

    # The first application samples everything out; the second still stores its spans.
    response = await owner.post(
        "/api/api-keys", json={"name": "k", "scopes": WRITER_SCOPES}, headers=header
    )
    async with asgi_client(app, token=response.json()["key"]) as writer:
        await send_and_store(app, writer, [otlp.span(name="kept")])
        stored = (await writer.get("/api/spans")).json()["data"]
    assert [s["name"] for s in stored] == ["kept"]
    assert (await owner.get("/api/spans")).json()["data"] == []
