"""`corral migrate`: bring the database schema to the version this code expects."""

from __future__ import annotations

import typer

from corral.cli.runtime import database_label, prepare, run
from corral.core.db import create_engine
from corral.core.migrations import current_revisions, upgrade_to_head
from corral.core.settings import Settings


async def _migrate(settings: Settings) -> tuple[set[str], set[str]]:
    # Only the engine: migrating needs no secrets, so it also works before they are set.
    if settings.database_url is None:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = create_engine(settings.effective_database_url)
    try:
        before = await current_revisions(engine)
        await upgrade_to_head(engine)
        return before, await current_revisions(engine)
    finally:
        await engine.dispose()


def migrate() -> None:
    """Apply pending migrations (safe to repeat) and print the revision reached."""
    settings = prepare()
    before, after = run(_migrate(settings), settings)
    reached = ", ".join(sorted(after))
    where = database_label(settings)
    if before == after:
        typer.echo(f"Already at revision {reached} ({where}); nothing to do.")
    else:
        start = ", ".join(sorted(before)) or "an empty database"
        typer.echo(f"Migrated {where} from {start} to revision {reached}.")
