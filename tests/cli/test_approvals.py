"""`corral approvals`: a person signs in to a running Corral over HTTP and decides; the server's
rules (role, self-approval) apply to the CLI exactly as to the API."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest

from corral.api.app import create_app
from tests.cli.support import cli
from tests.clients import PASSWORD
from tests.conftest import make_settings
from tests.servers import ThreadedServer


class Running:
    def __init__(self, server: ThreadedServer) -> None:
        self.url = server.base_url
        self.owner = httpx2.Client(base_url=self.url, timeout=30.0)
        body = {"email": "owner@example.com", "password": PASSWORD, "organization_name": "Acme"}
        registered = self.owner.post("/api/auth/register", json=body)
        assert registered.status_code == 201, registered.text
        self.owner.headers["X-CSRF-Token"] = registered.json()["csrf_token"]

    def invite(self, email: str, role: str = "member") -> None:
        org_id = self.owner.get("/api/me").json()["org_id"]
        invited = self.owner.post(
            f"/api/orgs/{org_id}/invitations", json={"email": email, "role": role}
        )
        assert invited.status_code == 201, invited.text
        with httpx2.Client(base_url=self.url, timeout=30.0) as person:
            body = {
                "email": email,
                "password": PASSWORD,
                "invitation_token": invited.json()["token"],
            }
            assert person.post("/api/auth/register", json=body).status_code == 201

    def held_call(self) -> dict[str, Any]:
        policy = {
            "name": "approve transfers",
            "expression": "true",
            "action": "require_approval",
            "applies_to": ["tool.transfer"],
        }
        assert self.owner.post("/api/policies", json=policy).status_code == 201
        held = self.owner.post(
            "/api/approvals", json={"name": "tool.transfer", "arguments": {"amount": 5}}
        )
        assert held.status_code == 201, held.text
        data: dict[str, Any] = held.json()
        return data


@pytest.fixture
def running(tmp_path: Path, database_url: str) -> Iterator[Running]:
    app = create_app(make_settings(tmp_path, database_url))
    with ThreadedServer(app) as server:
        corral = Running(server)
        try:
            yield corral
        finally:
            corral.owner.close()


def approvals(running: Running, email: str, command: str, code: int = 0) -> str:
    result = cli(
        f"approvals --url {running.url} --email {email} --password-stdin {command}",
        stdin=PASSWORD + "\n",
        code=code,
    )
    return result.stdout + result.stderr


def test_a_person_lists_and_approves_from_the_command_line(running: Running) -> None:
    held = running.held_call()
    running.invite("ada@example.com")
    listed = approvals(running, "ada@example.com", "list")
    assert held["id"] in listed
    assert "pending" in listed
    assert "transfer" in listed

    # The owner asked (signed in): the server refuses their own approval.
    refused = approvals(running, "owner@example.com", f"approve {held['id']}", code=1)
    assert "self_approval_forbidden" in refused

    approved = approvals(running, "ada@example.com", f"approve {held['id']} --comment fine")
    assert "approved" in approved
    again = approvals(running, "ada@example.com", f"deny {held['id']}", code=1)
    assert "already_decided" in again
    assert held["id"] in approvals(running, "ada@example.com", "list --status approved")


def test_a_viewer_and_a_wrong_password_cannot_decide(running: Running) -> None:
    held = running.held_call()
    running.invite("vera@example.com", "viewer")
    refused = approvals(running, "vera@example.com", f"deny {held['id']}", code=1)
    assert "missing_permission" in refused
    result = cli(
        f"approvals --url {running.url} --email vera@example.com --password-stdin list",
        stdin="not the password\n",
        code=1,
    )
    assert "sign-in refused" in result.stderr
