"""The audit API end to end: events after mutations, filters, pages, export, verification,
anchors with offline proofs, enforcement decisions, and tenant isolation."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from fastapi import FastAPI

from corral.audit import merkle
from corral.audit.anchors import anchor_pending, verify_event_offline
from corral.container import Container
from tests.api.test_decisions import decide, shell
from tests.api.test_policies import create
from tests.audit import tamper
from tests.clients import ApiClient, asgi_client


def container_of(app: FastAPI) -> Container:
    container: Container = app.state.container
    return container


async def activity(owner: ApiClient) -> None:
    """A few audited changes in the owner's default application."""
    for name in ("a", "b", "c"):
        created = await owner.post("/api/end-users", json={"external_id": name})
        assert created.status_code == 201, created.text
    end_user = created.json()["id"]
    assert (await owner.patch(f"/api/end-users/{end_user}", json={"name": "C"})).status_code == 200


async def events(client: ApiClient, **params: Any) -> list[dict[str, Any]]:
    response = await client.get("/api/audit/events", params=params)
    assert response.status_code == 200, response.text
    data: list[dict[str, Any]] = response.json()["data"]
    return data


async def seal(app: FastAPI) -> None:
    container = container_of(app)
    await anchor_pending(container.sessions, container.anchor_signer, max_events=1000)


async def test_changes_are_listed_newest_first_with_their_context(
    owner: ApiClient, app: FastAPI
) -> None:
    await activity(owner)
    listed = await events(owner)
    assert [e["seq"] for e in listed] == sorted((e["seq"] for e in listed), reverse=True)
    assert {e["chain_id"] for e in listed} == {owner.app_id}
    updated = next(e for e in listed if e["action"] == "end_user.updated")
    assert (updated["actor_type"], updated["actor_id"]) == ("user", owner.user_id)
    assert (updated["org_id"], updated["application_id"]) == (owner.org_id, owner.app_id)
    assert updated["outcome"] == "success"
    assert updated["request_id"]
    assert updated["user_agent"]
    assert len(updated["row_hash"]) == 64


async def test_filters_and_pages(owner: ApiClient) -> None:
    await activity(owner)
    everything = await events(owner, limit=200)
    created = await events(owner, action="end_user.created")
    assert len(created) == 3
    assert all(e["action"] == "end_user.created" for e in created)
    one = created[0]
    assert [e["id"] for e in await events(owner, target_id=one["target_id"])] == [
        e["id"] for e in everything if e["target_id"] == one["target_id"]
    ]
    assert await events(owner, actor_type="api_key") == []
    assert len(await events(owner, actor_type="user", outcome="success")) == len(everything)
    assert await events(owner, since="2999-01-01T00:00:00Z") == []
    assert len(await events(owner, until="2999-01-01T00:00:00Z")) == len(everything)

    seen: list[str] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (await owner.get("/api/audit/events", params=params)).json()
        seen += [e["id"] for e in page["data"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [e["id"] for e in everything]
    bad = await owner.get("/api/audit/events", params={"cursor": "bm90LWEtc2Vx"})
    assert (bad.status_code, bad.json()["code"]) == (422, "invalid_cursor")


async def test_export_streams_json_lines_oldest_first(owner: ApiClient) -> None:
    await activity(owner)
    response = await owner.get("/api/audit/export")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/x-ndjson")
    lines = [orjson.loads(line) for line in response.content.splitlines()]
    listed = await events(owner, limit=200)
    assert lines == list(reversed(listed))
    only = await owner.get("/api/audit/export", params={"action": "end_user.updated"})
    assert [orjson.loads(x)["action"] for x in only.content.splitlines()] == ["end_user.updated"]


async def test_verify_answers_ok_then_names_the_first_bad_event(
    owner: ApiClient, database_url: str
) -> None:
    await activity(owner)
    verified = (await owner.get("/api/audit/verify")).json()
    assert verified["ok"] is True
    assert verified["chain_id"] == owner.app_id
    assert verified["events_checked"] == verified["head_seq"] >= 4
    assert verified["first_bad_seq"] is None
    ranged = (await owner.get("/api/audit/verify", params={"from_seq": 2, "to_seq": 3})).json()
    assert (ranged["ok"], ranged["events_checked"]) == (True, 2)
    backwards = await owner.get("/api/audit/verify", params={"from_seq": 3, "to_seq": 2})
    assert (backwards.status_code, backwards.json()["code"]) == (422, "invalid_range")

    tamper.tamper(database_url, tamper.modify(owner.app_id, 2))
    broken = (await owner.get("/api/audit/verify")).json()
    assert (broken["ok"], broken["first_bad_seq"], broken["reason"]) == (
        False,
        2,
        "row_hash_mismatch",
    )


@pytest.mark.parametrize("kind", ["deleted", "reordered", "forged"])
async def test_verify_finds_each_kind_of_tampering(
    owner: ApiClient, app: FastAPI, database_url: str, kind: str
) -> None:
    await activity(owner)
    head = (await owner.get("/api/audit/verify")).json()["head_seq"]
    last = (await events(owner, limit=1))[0]
    statements = {
        "deleted": [tamper.delete(owner.app_id, 2)],
        "reordered": tamper.swap(owner.app_id, 2),
        "forged": tamper.forge_next(
            owner.app_id, head, last["row_hash"], container_of(app).audit_keys.active_id
        ),
    }[kind]
    tamper.tamper(database_url, *statements)
    broken = (await owner.get("/api/audit/verify")).json()
    assert broken["ok"] is False
    assert broken["first_bad_seq"] == (head + 1 if kind == "forged" else 2)


async def test_anchors_export_and_offline_proof(owner: ApiClient, app: FastAPI) -> None:
    await activity(owner)
    target = (await events(owner, action="end_user.updated"))[0]
    early = await owner.get(f"/api/audit/events/{target['id']}/proof")
    assert (early.status_code, early.json()["code"]) == (409, "audit_event_not_anchored")
    await seal(app)

    anchors = (await owner.get("/api/audit/anchors")).json()["data"]
    assert len(anchors) == 1
    exported = (await owner.get(f"/api/audit/anchors/{anchors[0]['id']}")).json()
    leaves = [bytes.fromhex(h) for h in exported["leaf_hashes"]]
    assert len(leaves) == exported["tree_size"] == exported["last_seq"]
    assert merkle.root(leaves).hex() == exported["root_hash"]

    proof = (await owner.get(f"/api/audit/events/{target['id']}/proof")).json()
    assert proof["event"] == target
    public_key = proof["anchor"]["public_key"]
    assert public_key == container_of(app).anchor_signer.public_key
    assert verify_event_offline(proof["event"], proof, proof["anchor"], public_key)
    forged = {**proof["event"], "actor_id": "usr_someone_else"}
    assert not verify_event_offline(forged, proof, proof["anchor"], public_key)


async def test_enforcement_decisions_are_audited(owner: ApiClient, app: FastAPI) -> None:
    await create(owner)
    key = await owner.create_key(["decisions:write"])
    async with asgi_client(app, token=key["key"]) as agent:
        blocked = await decide(agent, shell("rm -rf /"))
        await decide(agent, shell("ls"))
    audited = await events(owner, target_type="policy_decision")
    assert len(audited) == 1
    event = audited[0]
    assert (event["action"], event["outcome"]) == ("decision.block", "blocked")
    assert (event["actor_type"], event["actor_id"]) == ("api_key", key["id"])
    assert event["details"]["decision_id"] == blocked["decision_id"]
    assert event["target_id"] == blocked["decision_id"]


async def test_the_organization_chain_is_for_signed_in_users(
    owner: ApiClient, app: FastAPI
) -> None:
    renamed = await owner.patch(f"/api/orgs/{owner.org_id}", json={"name": "Acme 2"})
    assert renamed.status_code == 200, renamed.text
    org_events = await events(owner, chain="organization")
    assert "org.updated" in [e["action"] for e in org_events]
    assert {e["chain_id"] for e in org_events} == {owner.org_id}
    assert (await owner.get("/api/audit/verify", params={"chain": "organization"})).json()["ok"]
    key = await owner.create_key(["audit:read"])
    async with asgi_client(app, token=key["key"]) as reader:
        assert len(await events(reader)) >= 1
        refused = await reader.get("/api/audit/events", params={"chain": "organization"})
        assert refused.status_code == 403


async def test_reading_needs_the_audit_scope(owner: ApiClient, app: FastAPI) -> None:
    key = await owner.create_key(["end_users:read"])
    async with asgi_client(app, token=key["key"]) as c:
        for path in ("/api/audit/events", "/api/audit/verify", "/api/audit/anchors"):
            response = await c.get(path)
            assert (response.status_code, response.json()["code"]) == (403, "missing_scope")


async def test_another_organization_sees_nothing(
    owner: ApiClient, stranger: ApiClient, app: FastAPI
) -> None:
    await activity(owner)
    await seal(app)
    mine = await events(owner)
    anchor = (await owner.get("/api/audit/anchors")).json()["data"][0]
    theirs = await events(stranger, limit=200)
    assert {e["id"] for e in theirs}.isdisjoint({e["id"] for e in mine})
    for path in (
        f"/api/audit/events/{mine[0]['id']}",
        f"/api/audit/events/{mine[0]['id']}/proof",
        f"/api/audit/anchors/{anchor['id']}",
    ):
        assert (await stranger.get(path)).status_code == 404, path
    assert anchor["id"] not in {
        a["id"] for a in (await stranger.get("/api/audit/anchors")).json()["data"]
    }
    other_chain = (await stranger.get("/api/audit/verify")).json()
    assert other_chain["chain_id"] == stranger.app_id
    exported = (await stranger.get("/api/audit/export")).content
    assert mine[0]["id"].encode() not in exported
