"""`/api/prices`: the vendored catalog and per-application overrides."""

from __future__ import annotations

from fastapi import FastAPI
from sqlalchemy import select

from corral.audit.models import AuditEvent
from corral.telemetry.cost import default_catalog
from tests.clients import ApiClient, asgi_client
from tests.traces.support import container_of


async def test_the_catalog_is_listed_with_its_sources(owner: ApiClient) -> None:
    response = await owner.get("/api/prices")
    assert response.status_code == 200, response.text
    body = response.json()
    catalog = default_catalog()
    assert body["currency"] == "USD"
    assert body["unit"] == "per_million_tokens"
    assert body["catalog_as_of"] == catalog.as_of
    assert body["overrides"] == 0
    assert len(body["models"]) == len(catalog.entries)
    gpt = next(m for m in body["models"] if m["model"] == "gpt-4o")
    assert gpt["source"] == "catalog"
    assert (gpt["input"], gpt["output"], gpt["cache_read"]) == ("2.5", "10", "1.25")
    assert gpt["catalog_source"].startswith("https://")
    assert gpt["catalog_price"] is None


async def test_an_override_replaces_the_catalog_price(owner: ApiClient, app: FastAPI) -> None:
    response = await owner.put("/api/prices/GPT-4o", json={"input": 1, "output": "2.5"})
    assert response.status_code == 200, response.text
    assert response.json()["model"] == "gpt-4o"
    assert (response.json()["input"], response.json()["cache_read"]) == ("1", None)

    listing = (await owner.get("/api/prices")).json()
    assert listing["overrides"] == 1
    first = listing["models"][0]
    assert (first["model"], first["source"], first["output"]) == ("gpt-4o", "override", "2.5")
    assert first["catalog_price"]["input"] == "2.5"
    assert [m["model"] for m in listing["models"]].count("gpt-4o") == 1

    # Resolution follows ingest's matching: prefix and snapshot date are folded.
    resolved = (await owner.get("/api/prices/openai/gpt-4o-2024-08-06")).json()
    assert resolved == {
        "model": "openai/gpt-4o-2024-08-06",
        "priced_as": "gpt-4o",
        "source": "override",
        "input": "1",
        "output": "2.5",
        "cache_read": None,
        "cache_write": None,
    }
    assert (await owner.get("/api/prices/claude-3-5-haiku")).json()["source"] == "catalog"

    again = await owner.put("/api/prices/gpt-4o", json={"input": "3", "output": "4"})
    assert again.json()["created_at"] == response.json()["created_at"]
    assert (await owner.delete("/api/prices/gpt-4o")).status_code == 204
    assert (await owner.delete("/api/prices/gpt-4o")).status_code == 404
    assert (await owner.get("/api/prices/gpt-4o")).json()["source"] == "catalog"

    async with container_of(app).sessions() as session:
        actions = (
            await session.scalars(
                select(AuditEvent.action).where(AuditEvent.target_type == "model_price_override")
            )
        ).all()
    assert actions == ["price_override.set", "price_override.set", "price_override.deleted"]


async def test_a_private_model_with_a_slash_in_its_name(owner: ApiClient) -> None:
    assert (await owner.get("/api/prices/acme/finetune-7")).status_code == 404
    assert (await owner.get("/api/prices/acme/finetune-7")).json()["code"] == "unknown_model"
    response = await owner.put(
        "/api/prices/acme/finetune-7",
        json={"input": "0.5", "output": "1", "cache_read": "0.05", "cache_write": "0.6"},
    )
    assert response.status_code == 200, response.text
    resolved = (await owner.get("/api/prices/ACME/finetune-7")).json()
    assert (resolved["priced_as"], resolved["cache_write"]) == ("acme/finetune-7", "0.6")
    listing = (await owner.get("/api/prices")).json()
    private = listing["models"][0]
    assert (private["model"], private["provider"], private["as_of"]) == (
        "acme/finetune-7",
        None,
        None,
    )


async def test_invalid_prices_are_refused(owner: ApiClient) -> None:
    for body in [
        {"input": -1, "output": 1},
        {"input": 1},
        {"input": "abc", "output": 1},
        {"input": 1, "output": 1, "cache_read": 10_000_001},
        {"input": 1, "output": 1, "extra": 1},
    ]:
        response = await owner.put("/api/prices/gpt-4o", json=body)
        assert response.status_code == 422, body
    blank = await owner.put("/api/prices/%20", json={"input": 1, "output": 1})
    assert blank.status_code == 422
    assert blank.json()["code"] == "invalid_model_name"


async def test_prices_need_settings_scopes(owner: ApiClient, app: FastAPI) -> None:
    reader = await owner.create_key(["settings:read"])
    async with asgi_client(app, token=reader["key"]) as c:
        assert (await c.get("/api/prices")).status_code == 200
        assert (await c.get("/api/prices/gpt-4o")).status_code == 200
        put = await c.put("/api/prices/gpt-4o", json={"input": 1, "output": 1})
        assert put.status_code == 403
    other = await owner.create_key(["traces:read"])
    async with asgi_client(app, token=other["key"]) as c:
        assert (await c.get("/api/prices")).status_code == 403
