"""The Agents pages: the list, create, an agent with its versions and runs, a version, the draft
editor (validation, save, publish, two editors), start a run, delete; who may change them,
tenants, CSRF and escaping."""

from __future__ import annotations

import re
from typing import Any

import orjson
from fastapi import FastAPI

from tests.api.approvals_support import member
from tests.clients import ApiClient
from tests.web.support import post_form

XSS = '<script>alert("owned")</script>'
_TAG = re.compile(r'name="draft_tag" value="([^"]*)"')


def manifest(name: str = "triage", version: str = "1.0.0", **fields: Any) -> dict[str, Any]:
    return {
        "name": name,
        "version": version,
        "description": "Routes tickets",
        "input_schema": {
            "type": "object",
            "properties": {"ticket": {"type": "string"}},
            "required": ["ticket"],
        },
        "model": {"provider": "scripted", "turns": [{"output": {"queue": "billing"}}]},
        **fields,
    }


def text(value: dict[str, Any]) -> str:
    return orjson.dumps(value, option=orjson.OPT_INDENT_2).decode()


async def _create(
    client: ApiClient, *, publish: bool = True, prompt: str = "Route the ticket.", **fields: Any
) -> Any:
    form = {"manifest": text(manifest(**fields)), "prompt": prompt}
    if publish:
        form["publish"] = "on"
    return await post_form(client, "/agents", "/agents", **form)


async def _edit(client: ApiClient, name: str, **fields: str) -> Any:
    page = await client.get(f"/agents/{name}/edit")
    assert page.status_code == 200, page.text
    found = _TAG.search(page.text)
    assert found is not None
    form = {"draft_tag": found.group(1), "intent": "save", **fields}
    return await post_form(client, f"/agents/{name}/edit", f"/agents/{name}/edit", **form)


async def test_create_list_detail_and_version(owner: ApiClient) -> None:
    created = await _create(owner, description=f"routes {XSS}", prompt=f"Route. {XSS}")
    assert created.status_code == 303, created.text
    assert created.headers["location"] == "/agents/triage"

    listed = await owner.get("/agents")
    assert listed.status_code == 200
    assert XSS not in listed.text
    assert "routes &lt;script&gt;" in listed.text
    assert 'href="/agents/triage/versions/1.0.0"' in listed.text
    assert "as published" in listed.text
    assert "triage" in (await owner.get("/agents?q=tri")).text
    assert "No agent" in (await owner.get("/agents?q=zzz")).text

    detail = await owner.get("/agents/triage")
    assert detail.status_code == 200, detail.text
    assert XSS not in detail.text
    assert "<code>scripted</code>" in detail.text
    assert "Route. &lt;script&gt;alert(&#34;owned&#34;)&lt;/script&gt;</pre>" in detail.text
    assert "&#34;ticket&#34;" in detail.text  # the input schema, escaped JSON
    assert 'href="/agents/triage/versions/1.0.0"' in detail.text
    assert 'href="/api/agents/triage/export"' in detail.text
    assert "Start a run" in detail.text
    assert "Edit draft" in detail.text

    version = await owner.get("/agents/triage/versions/1.0.0")
    assert version.status_code == 200
    assert "Route. &lt;script&gt;" in version.text
    assert XSS not in version.text
    assert 'href="/api/agents/triage/export?version=1.0.0"' in version.text
    assert (await owner.get("/agents/triage/versions/9.9.9")).status_code == 404
    assert (await owner.get("/agents/nobody")).status_code == 404


async def test_a_draft_only_agent_says_so(owner: ApiClient) -> None:
    assert (await _create(owner, publish=False)).status_code == 303
    assert (await owner.get("/api/agents/triage")).json()["latest_version"] is None
    detail = (await owner.get("/agents/triage")).text
    assert "never: runs can use the draft" in detail
    assert "unpublished changes" in detail


async def test_invalid_manifests_show_their_problems_with_the_text_kept(owner: ApiClient) -> None:
    broken = await post_form(
        owner, "/agents", "/agents", manifest='{"name": "x",', prompt="typed prompt"
    )
    assert broken.status_code == 422
    assert "the manifest is not valid JSON" in broken.text
    assert "{&#34;name&#34;: &#34;x&#34;," in broken.text
    assert "typed prompt" in broken.text

    invalid = await post_form(
        owner,
        "/agents",
        "/agents",
        manifest=text({"name": "Bad Name", "version": "one", "model": {"provider": "openai"}}),
        prompt=XSS,
    )
    assert invalid.status_code == 422
    problems = invalid.text.split('data-testid="agent-manifest-problems"', 1)[1].split("</ul>")[0]
    assert "<code>name</code>" in problems
    assert "<code>version</code>: &#39;one&#39; is not a semantic version" in problems
    assert "<code>model</code>: `name` is required" in problems
    assert XSS not in invalid.text
    assert 'aria-invalid="true"' in invalid.text

    nul = await post_form(owner, "/agents", "/agents", manifest=text(manifest()), prompt="a\x00b")
    assert nul.status_code == 422
    assert "NUL" in nul.text
    assert (await owner.get("/api/agents")).json()["data"] == []

    assert (await _create(owner)).status_code == 303
    taken = await _create(owner)
    assert taken.status_code == 409
    assert "exists in the application" in taken.text


async def test_edit_save_publish_and_refusals(owner: ApiClient) -> None:
    await _create(owner)
    editor = await owner.get("/agents/triage/edit")
    assert editor.status_code == 200
    assert "&#34;version&#34;: &#34;1.0.0&#34;" in editor.text

    bad = await _edit(owner, "triage", manifest='{"name": "triage"}', prompt=XSS)
    assert bad.status_code == 422
    assert "<code>version</code>: Field required" in bad.text
    assert "&lt;script&gt;" in bad.text
    assert XSS not in bad.text

    saved = await _edit(owner, "triage", manifest=text(manifest(version="1.1.0")), prompt="v2")
    assert saved.status_code == 303, saved.text
    assert saved.headers["location"] == "/agents/triage"
    read = (await owner.get("/api/agents/triage")).json()
    assert (read["draft"]["prompt"], read["latest_version"]) == ("v2", "1.0.0")
    assert "unpublished changes" in (await owner.get("/agents")).text

    backwards = await _edit(
        owner, "triage", manifest=text(manifest(version="0.9.0")), prompt="old", intent="publish"
    )
    assert backwards.status_code == 409
    assert "not greater than the published 1.0.0" in backwards.text
    assert "old" in backwards.text
    # The refused publish saved nothing either.
    assert (await owner.get("/api/agents/triage")).json()["draft"]["prompt"] == "v2"

    renamed = await _edit(owner, "triage", manifest=text(manifest(name="other")), prompt="x")
    assert renamed.status_code == 409
    assert "this agent is &#39;triage&#39;" in renamed.text

    published = await _edit(
        owner, "triage", manifest=text(manifest(version="1.1.0")), prompt="v2", intent="publish"
    )
    assert published.status_code == 303, published.text
    assert published.headers["location"] == "/agents/triage/versions/1.1.0"
    detail = (await owner.get("/agents/triage")).text
    assert 'href="/agents/triage/versions/1.1.0"' in detail
    assert "the same as the published version" in detail


async def test_two_editors_do_not_overwrite_each_other(owner: ApiClient) -> None:
    await _create(owner)
    first_look = await owner.get("/agents/triage/edit")
    found = _TAG.search(first_look.text)
    assert found is not None
    stale_tag = found.group(1)
    assert (
        await _edit(owner, "triage", manifest=text(manifest()), prompt="theirs")
    ).status_code == 303

    mine = await post_form(
        owner,
        "/agents/triage/edit",
        "/agents/triage/edit",
        draft_tag=stale_tag,
        intent="save",
        manifest=text(manifest()),
        prompt="mine",
    )
    assert mine.status_code == 409
    assert 'data-testid="draft-changed"' in mine.text
    assert ">mine</textarea>" in mine.text
    assert (await owner.get("/api/agents/triage")).json()["draft"]["prompt"] == "theirs"


async def test_start_a_run(owner: ApiClient) -> None:
    await _create(owner)
    wrong = await post_form(
        owner, "/agents/triage", "/agents/triage/runs", input='{"ticket": 5}', version=""
    )
    assert wrong.status_code == 422
    assert "<code>input/ticket</code>" in wrong.text
    assert "is not of type" in wrong.text
    assert '{"ticket": 5}'.replace('"', "&#34;") in wrong.text
    missing = await post_form(owner, "/agents/triage", "/agents/triage/runs", input="{")
    assert missing.status_code == 422
    assert "the input is not valid JSON" in missing.text
    assert (await owner.get("/api/runs")).json()["data"] == []

    started = await post_form(
        owner, "/agents/triage", "/agents/triage/runs", input='{"ticket": "help"}', version=""
    )
    assert started.status_code == 303, started.text
    run_id = started.headers["location"].removeprefix("/runs/")
    run = (await owner.get(f"/api/runs/{run_id}")).json()
    assert (run["agent_name"], run["agent_version"], run["input"]) == (
        "triage",
        "1.0.0",
        {"ticket": "help"},
    )
    detail = (await owner.get("/agents/triage")).text
    assert f'href="/runs/{run_id}"' in detail
    assert "All runs of triage" in detail

    draft = await post_form(
        owner, "/agents/triage", "/agents/triage/runs", input='{"ticket": "x"}', version="draft"
    )
    assert draft.status_code == 303
    draft_id = draft.headers["location"].removeprefix("/runs/")
    assert (await owner.get(f"/api/runs/{draft_id}")).json()["agent_version"] == "draft"


async def test_a_viewer_sees_no_controls_and_forged_posts_are_refused(
    app: FastAPI, owner: ApiClient
) -> None:
    await _create(owner)
    async with member(app, owner, "vera@example.com", "viewer") as vera:
        listed = (await vera.get("/agents")).text
        assert "triage" in listed
        assert 'action="/agents"' not in listed.replace('method="get" action="/agents"', "")
        detail = (await vera.get("/agents/triage")).text
        for control in ("Edit draft", "Start a run", "Delete agent"):
            assert control not in detail
        editor = (await vera.get("/agents/triage/edit")).text
        assert "<textarea" not in editor
        for action, fields in (
            ("/agents", {"manifest": text(manifest(name="mine")), "prompt": "x"}),
            ("/agents/triage/edit", {"manifest": text(manifest()), "prompt": "x"}),
            ("/agents/triage/delete", {}),
            ("/agents/triage/runs", {"input": '{"ticket": "x"}'}),
        ):
            forged = await post_form(vera, "/agents", action, **fields)
            assert forged.status_code == 403, action
    assert [a["name"] for a in (await owner.get("/api/agents")).json()["data"]] == ["triage"]
    assert (await owner.get("/api/runs")).json()["data"] == []


async def test_another_organization_gets_not_found(owner: ApiClient, stranger: ApiClient) -> None:
    await _create(owner)
    assert "triage" not in (await stranger.get("/agents")).text
    for path in ("/agents/triage", "/agents/triage/edit", "/agents/triage/versions/1.0.0"):
        assert (await stranger.get(path)).status_code == 404, path
    agent_id = (await owner.get("/api/agents/triage")).json()["id"]
    assert (await stranger.get(f"/agents/{agent_id}")).status_code == 404
    for action in ("/agents/triage/edit", "/agents/triage/delete", "/agents/triage/runs"):
        attempt = await post_form(
            stranger, "/agents", action, manifest=text(manifest()), prompt="x", input="{}"
        )
        assert attempt.status_code == 404, action
        assert "agent not found" in attempt.text
    assert (await owner.get("/api/agents/triage")).json()["draft"]["prompt"] == "Route the ticket."


async def test_delete(owner: ApiClient) -> None:
    await _create(owner)
    deleted = await post_form(owner, "/agents/triage", "/agents/triage/delete")
    assert deleted.status_code == 303
    assert deleted.headers["location"] == "/agents"
    assert (await owner.get("/api/agents/triage")).status_code == 404
    assert "No agents yet" in (await owner.get("/agents")).text


async def test_a_post_without_the_token_is_refused(owner: ApiClient) -> None:
    await _create(owner)
    owner.headers.pop("X-CSRF-Token")
    for action in (
        "/agents",
        "/agents/triage/edit",
        "/agents/triage/delete",
        "/agents/triage/runs",
    ):
        refused = await owner.post(action, data={"manifest": "{}", "csrf_token": "guessed"})
        assert refused.status_code == 403, action
        assert "security token" in refused.text
    assert (await owner.get("/agents/triage")).status_code == 200


async def test_signed_out_goes_to_sign_in(client: ApiClient) -> None:
    answer = await client.get("/agents/triage")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/sign-in?next=%2Fagents%2Ftriage"
