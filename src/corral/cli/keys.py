"""`corral keys`: API keys created directly in the database (bootstrap and recovery)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

import typer

from corral.audit import service as audit
from corral.cli.runtime import CLI_ACTOR, fail, open_container, prepare, run
from corral.core.clock import utcnow
from corral.core.db import transaction
from corral.core.ids import is_well_formed
from corral.core.settings import Settings
from corral.identity.models import ApiKey, Application
from corral.identity.permissions import KEY_SCOPES
from corral.identity.services.api_keys import build_key

app = typer.Typer(help="Manage API keys (works with the server stopped).", no_args_is_help=True)

# The width of the api_keys.name column.
_MAX_NAME_CHARS = 200


async def _create(
    settings: Settings,
    application_id: str,
    name: str,
    scopes: list[str],
    expires_at: datetime | None,
) -> tuple[ApiKey, str]:
    async with open_container(settings) as container, transaction(container.sessions) as session:
        application = (
            await session.get(Application, application_id)
            if is_well_formed(application_id, "app")
            else None
        )
        if application is None:
            fail(f"no application {application_id!r} (application ids look like app_…)")
        key, token = build_key(
            org_id=application.org_id,
            application_id=application.id,
            name=name,
            scopes=scopes,
            expires_at=expires_at,
            created_by_user_id=None,
        )
        session.add(key)
        await session.flush()
        audit.record(
            session,
            CLI_ACTOR,
            "api_key.created",
            target_type="api_key",
            target_id=key.id,
            org_id=key.org_id,
            application_id=key.application_id,
            details={"scopes": scopes, "name": name},
        )
        return key, token


@app.command()
def create(
    application_id: Annotated[
        str, typer.Option("--app", help="Application the key is bound to (app_…).")
    ],
    scope: Annotated[list[str], typer.Option(help="A scope the key holds; repeat for several.")],
    name: Annotated[str, typer.Option(help="A label to recognise the key by.")] = "CLI key",
    expires_in_days: Annotated[
        int | None, typer.Option(min=1, help="Expire the key this many days from now.")
    ] = None,
) -> None:
    """Create an API key and print it once; only its digest is stored."""
    unknown = sorted(set(scope) - KEY_SCOPES)
    if unknown:
        fail(
            f"unknown scope(s): {', '.join(unknown)}\nvalid scopes: {', '.join(sorted(KEY_SCOPES))}"
        )
    if not 1 <= len(name) <= _MAX_NAME_CHARS:
        fail(f"--name must have 1 to {_MAX_NAME_CHARS} characters")
    settings = prepare()
    expires_at = utcnow() + timedelta(days=expires_in_days) if expires_in_days else None
    scopes = sorted(set(scope))
    key, token = run(_create(settings, application_id, name, scopes, expires_at), settings)
    typer.echo(f"Created API key {key.id} ({key.name!r}) for application {key.application_id}.")
    typer.echo(f"Scopes:  {', '.join(key.scopes)}")
    typer.echo(f"Expires: {key.expires_at.isoformat() if key.expires_at else 'never'}")
    typer.echo("Key (shown once; store it now):")
    typer.echo(f"  {token}")
