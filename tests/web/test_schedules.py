"""The Schedules pages: the list with next fire times, create, edit, switch off and on, delete,
the cron preview fragment; refusals by field, who may change them, tenants, CSRF, escaping."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import FastAPI

from tests.api.approvals_support import member
from tests.clients import ApiClient
from tests.web.support import post_form
from tests.web.test_agents import XSS, manifest

NEW = {
    "name": "weekday triage",
    "agent": "triage",
    "agent_version": "",
    "cron": "0 9 * * 1-5",
    "timezone": "Europe/Paris",
    "input": '{"ticket": "daily"}',
    "enabled": "on",
}


async def _agent(client: ApiClient) -> None:
    created = await client.post("/api/agents", json={"manifest": manifest(), "prompt": "p"})
    assert created.status_code == 201, created.text


async def _create(client: ApiClient, **fields: str) -> Any:
    return await post_form(client, "/schedules", "/schedules", **{**NEW, **fields})


async def _created(client: ApiClient) -> str:
    answer = await _create(client)
    assert answer.status_code == 303, answer.text
    return str(answer.headers["location"]).removeprefix("/schedules/")


async def test_create_list_edit_switch_and_delete(owner: ApiClient) -> None:
    await _agent(owner)
    page = await owner.get("/schedules")
    assert page.status_code == 200
    assert 'data-testid="no-schedules"' in page.text
    assert 'hx-get="/schedules/preview"' in page.text
    assert '<option value="triage">' in page.text

    schedule_id = await _created(owner)
    assert schedule_id.startswith("sch_")
    listed = (await owner.get("/schedules")).text
    assert "<code>0 9 * * 1-5</code>" in listed
    assert "Europe/Paris" in listed
    assert 'href="/agents/triage"' in listed
    assert listed.count(" 09:00 CE") >= 3  # three next fire times, on Paris's wall clock
    assert "none yet" in listed

    detail = (await owner.get(f"/schedules/{schedule_id}")).text
    assert "on · next run" in detail
    assert detail.count(" 09:00 CE") == 5
    assert "Disable schedule" in detail

    edited = await post_form(
        owner,
        f"/schedules/{schedule_id}",
        f"/schedules/{schedule_id}",
        **{
            **NEW,
            "cron": "30 7 * * *",
            "timezone": "UTC",
            "input": orjson.dumps({"ticket": XSS}).decode(),
        },
    )
    assert edited.status_code == 303, edited.text
    read = (await owner.get(f"/api/schedules/{schedule_id}")).json()
    assert (read["cron"], read["timezone"], read["input"]) == (
        "30 7 * * *",
        "UTC",
        {"ticket": XSS},
    )
    shown = (await owner.get(f"/schedules/{schedule_id}")).text
    assert XSS not in shown
    assert "&lt;script&gt;" in shown

    off = await post_form(
        owner, f"/schedules/{schedule_id}", f"/schedules/{schedule_id}/enabled", enabled="false"
    )
    assert off.status_code == 303
    assert (await owner.get(f"/api/schedules/{schedule_id}")).json()["enabled"] is False
    assert "Enable schedule" in (await owner.get(f"/schedules/{schedule_id}")).text
    on = await post_form(
        owner, f"/schedules/{schedule_id}", f"/schedules/{schedule_id}/enabled", enabled="true"
    )
    assert on.status_code == 303
    assert (await owner.get(f"/api/schedules/{schedule_id}")).json()["next_run_at"] is not None

    assert "weekday triage" in (await owner.get("/schedules?agent=triage")).text
    assert "No schedules for this agent" in (await owner.get("/schedules?agent=other")).text

    path = f"/schedules/{schedule_id}"
    deleted = await post_form(owner, path, f"{path}/delete")
    assert deleted.status_code == 303
    assert deleted.headers["location"] == "/schedules"
    assert (await owner.get(f"/api/schedules/{schedule_id}")).status_code == 404


async def test_the_preview_follows_what_is_typed(owner: ApiClient) -> None:
    fires = await owner.get(
        "/schedules/preview", params={"cron": "15 6 * * *", "timezone": "Asia/Tokyo"}
    )
    assert fires.status_code == 200
    assert fires.text.count(" 06:15 JST") == 5
    assert "<html" not in fires.text
    bad = await owner.get("/schedules/preview", params={"cron": "* * *", "timezone": "UTC"})
    assert "a cron expression has 5 fields" in bad.text
    zone = await owner.get("/schedules/preview", params={"cron": "@daily", "timezone": "Mars/Base"})
    assert "not an IANA time zone" in zone.text
    never = await owner.get("/schedules/preview", params={"cron": "0 0 30 2 *", "timezone": "UTC"})
    assert "never fires" in never.text


async def test_refusals_name_the_field_and_keep_what_was_typed(owner: ApiClient) -> None:
    await _agent(owner)
    bad_cron = await _create(owner, cron="61 * * * *", name="typed name")
    assert bad_cron.status_code == 422
    assert "<code>cron</code>" in bad_cron.text
    assert 'value="typed name"' in bad_cron.text
    unknown = await _create(owner, agent="nobody")
    assert unknown.status_code == 404
    assert "<code>agent</code>: agent not found" in unknown.text
    wrong_input = await _create(owner, input='{"ticket": 1}')
    assert wrong_input.status_code == 422
    assert "<code>input/ticket</code>" in wrong_input.text
    not_json = await _create(owner, input="{")
    assert not_json.status_code == 422
    assert "<code>input</code>: the input is not valid JSON" in not_json.text
    assert (await owner.get("/api/schedules")).json()["data"] == []

    await _created(owner)
    taken = await _create(owner)
    assert taken.status_code == 409
    assert "exists in the application" in taken.text
    assert len((await owner.get("/api/schedules")).json()["data"]) == 1


async def test_a_viewer_sees_no_controls_and_forged_posts_are_refused(
    app: FastAPI, owner: ApiClient
) -> None:
    await _agent(owner)
    schedule_id = await _created(owner)
    async with member(app, owner, "vera@example.com", "viewer") as vera:
        listed = (await vera.get("/schedules")).text
        assert "weekday triage" in listed
        assert 'method="post" action="/schedules' not in listed
        detail = (await vera.get(f"/schedules/{schedule_id}")).text
        assert 'method="post" action="/schedules' not in detail
        assert "Next fire times" in detail
        for action, fields in (
            ("/schedules", {**NEW, "name": "mine"}),
            (f"/schedules/{schedule_id}", NEW),
            (f"/schedules/{schedule_id}/enabled", {"enabled": "false"}),
            (f"/schedules/{schedule_id}/delete", {}),
        ):
            forged = await post_form(vera, "/schedules", action, **fields)
            assert forged.status_code == 403, action
            assert "schedules:write" in forged.text
    read = (await owner.get(f"/api/schedules/{schedule_id}")).json()
    assert (read["name"], read["enabled"]) == ("weekday triage", True)


async def test_another_organization_gets_not_found(owner: ApiClient, stranger: ApiClient) -> None:
    await _agent(owner)
    schedule_id = await _created(owner)
    assert "weekday triage" not in (await stranger.get("/schedules")).text
    assert (await stranger.get(f"/schedules/{schedule_id}")).status_code == 404
    for action in (
        f"/schedules/{schedule_id}",
        f"/schedules/{schedule_id}/enabled",
        f"/schedules/{schedule_id}/delete",
    ):
        attempt = await post_form(stranger, "/schedules", action, **NEW)
        assert attempt.status_code == 404, action
        assert "schedule not found" in attempt.text
    # Another organization's agent cannot be scheduled either.
    refused = await _create(stranger)
    assert refused.status_code == 404
    assert (await owner.get(f"/api/schedules/{schedule_id}")).json()["enabled"] is True


async def test_a_post_without_the_token_is_refused(owner: ApiClient) -> None:
    await _agent(owner)
    schedule_id = await _created(owner)
    owner.headers.pop("X-CSRF-Token")
    for action in ("/schedules", f"/schedules/{schedule_id}/delete"):
        refused = await owner.post(action, data={**NEW, "csrf_token": "guessed"})
        assert refused.status_code == 403, action
        assert "security token" in refused.text
    assert (await owner.get(f"/schedules/{schedule_id}")).status_code == 200


async def test_signed_out_goes_to_sign_in(client: ApiClient) -> None:
    answer = await client.get("/schedules")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/sign-in?next=%2Fschedules"
