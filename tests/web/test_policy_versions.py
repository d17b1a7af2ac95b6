"""A policy's history in-process: the versions, one version, the diff (classes and +/-
text), restore over the current version and of a deleted policy; who may do what."""

from __future__ import annotations

from fastapi import FastAPI

from tests.api.approvals_support import member
from tests.clients import ApiClient
from tests.web.policy_support import XSS, change_policy, create_policy
from tests.web.support import post_form


async def _history(owner: ApiClient) -> str:
    policy_id = await create_policy(owner, expression='name == "tool.shell"')
    await change_policy(
        owner, policy_id, expression='name == "tool.exec"\n|| name == "tool.bash"', priority=7
    )
    await change_policy(owner, policy_id, description=XSS)
    return policy_id


async def test_versions_diff_and_restore(owner: ApiClient) -> None:
    policy_id = await _history(owner)
    path = f"/policies/{policy_id}/versions"
    listed = await owner.get(path)
    assert listed.status_code == 200
    assert listed.text.count('data-testid="version-row"') == 3
    assert "Restore v1" in listed.text
    assert "Restore v3" not in listed.text  # the current one

    diff = await owner.get(f"/policies/{policy_id}/diff?from=1&to=2")
    assert diff.status_code == 200
    assert '<span class="diff-removed">-name == &#34;tool.shell&#34;</span>' in diff.text
    assert '<span class="diff-added">+name == &#34;tool.exec&#34;</span>' in diff.text
    assert '<span class="diff-added">+|| name == &#34;tool.bash&#34;</span>' in diff.text
    assert '<th scope="row">priority</th><td><pre class="mono">200</pre></td>' in diff.text
    latest = (await owner.get(f"/policies/{policy_id}/diff")).text
    assert "Changes from v2 to v3" in latest
    assert XSS not in latest
    assert "&lt;script&gt;" in latest

    version = await owner.get(f"{path}/1")
    assert version.status_code == 200
    assert "name == &#34;tool.shell&#34;</pre>" in version.text
    assert (await owner.get(f"{path}/9")).status_code == 404

    restored = await post_form(owner, path, f"{path}/1/restore")
    assert restored.status_code == 303, restored.text
    assert restored.headers["location"] == path
    stored = (await owner.get(f"/api/policies/{policy_id}")).json()
    assert (stored["version"], stored["expression"], stored["priority"]) == (
        4,
        'name == "tool.shell"',
        200,
    )
    assert "restore of v1" in (await owner.get(path)).text


async def test_a_deleted_policy_keeps_its_history_and_comes_back(owner: ApiClient) -> None:
    policy_id = await _history(owner)
    assert (await owner.delete(f"/api/policies/{policy_id}")).status_code == 204
    path = f"/policies/{policy_id}/versions"
    page = await owner.get(path)
    assert page.status_code == 200
    assert "This policy was deleted" in page.text
    restored = await post_form(owner, path, f"{path}/3/restore")
    assert restored.status_code == 303
    assert (await owner.get(f"/api/policies/{policy_id}")).json()["version"] == 5


async def test_a_viewer_reads_history_but_cannot_restore(app: FastAPI, owner: ApiClient) -> None:
    policy_id = await _history(owner)
    path = f"/policies/{policy_id}/versions"
    async with member(app, owner, "vera@example.com", "viewer") as vera:
        page = await vera.get(path)
        assert page.status_code == 200
        assert "Restore v" not in page.text
        assert "Restore v" not in (await vera.get(f"{path}/1")).text
        forged = await post_form(vera, path, f"{path}/1/restore")
        assert forged.status_code == 403
        assert "policies:write" in forged.text
    assert (await owner.get(f"/api/policies/{policy_id}")).json()["version"] == 3


async def test_another_organization_gets_not_found(owner: ApiClient, stranger: ApiClient) -> None:
    policy_id = await _history(owner)
    path = f"/policies/{policy_id}/versions"
    for url in (path, f"{path}/1", f"/policies/{policy_id}/diff"):
        assert (await stranger.get(url)).status_code == 404, url
    attempt = await post_form(stranger, "/policies", f"{path}/1/restore")
    assert attempt.status_code == 404
    assert (await owner.get(f"/api/policies/{policy_id}")).json()["version"] == 3


async def test_restore_needs_the_token(owner: ApiClient) -> None:
    policy_id = await _history(owner)
    owner.headers.pop("X-CSRF-Token", None)
    refused = await owner.post(f"/policies/{policy_id}/versions/1/restore", data={})
    assert refused.status_code == 403
