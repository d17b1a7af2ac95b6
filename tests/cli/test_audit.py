"""`corral audit verify`: offline verification of the chains, exit code 3 when one is broken."""

from __future__ import annotations

import json
from pathlib import Path

from tests.audit import tamper
from tests.cli.support import cli, find_id
from tests.clients import PASSWORD


def _application_with_events() -> str:
    created = cli(
        "admin create-user --email audit@example.com --org Acme --password-stdin", stdin=PASSWORD
    )
    app_id = find_id("app", created.stdout)
    for _ in range(3):
        cli(f"keys create --app {app_id} --scope audit:read")
    return app_id


def test_verify_reports_every_chain_ok(db_env: Path) -> None:
    app_id = _application_with_events()
    result = cli("audit verify")
    assert app_id in result.stdout
    assert "BROKEN" not in result.stdout
    answer = json.loads(cli(f"audit verify --application {app_id} --json").stdout)
    assert answer["ok"] is True
    [chain] = answer["chains"]
    # The application's creation and the three keys.
    assert (chain["chain_id"], chain["ok"], chain["events_checked"]) == (app_id, True, 4)
    assert chain["events_per_second"] > 0


def test_a_broken_chain_exits_non_zero_naming_the_first_bad_event(
    db_env: Path, database_url: str
) -> None:
    app_id = _application_with_events()
    tamper.tamper(database_url, tamper.delete(app_id, 2))
    result = cli(f"audit verify --application {app_id} --json", code=3)
    [chain] = json.loads(result.stdout)["chains"]
    assert (chain["ok"], chain["first_bad_seq"], chain["reason"]) == (False, 2, "missing_event")
    table = cli("audit verify", code=3)
    assert "BROKEN" in table.stdout
    assert "missing_event" in table.stdout
