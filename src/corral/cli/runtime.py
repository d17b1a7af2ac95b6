"""What every command shares: settings, quiet logging, the container, errors and output."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from collections.abc import AsyncIterator, Coroutine, Sequence
from contextlib import asynccontextmanager
from typing import Any, Final, NoReturn, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import typer
from alembic.script import ScriptDirectory
from pydantic import ValidationError
from pydantic_settings import BaseSettings
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from corral.container import Container, build_container
from corral.core import logging as corral_logging
from corral.core.errors import ConfigError, CorralError
from corral.core.migrations import alembic_config, current_revisions, head_revisions
from corral.core.request_context import Actor
from corral.core.settings import Settings, get_settings

T = TypeVar("T")

EXIT_FAILURE: Final = 1
EXIT_CONFIG: Final = 2
MASK: Final = "********"
CLI_ACTOR: Final = Actor.system("cli")


class StderrProxy:
    """Writes to whatever `sys.stderr` is at write time, so a replaced stream is followed."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def fail(message: str, *, code: int = EXIT_FAILURE) -> NoReturn:
    """Print an error to stderr and leave with a non-zero exit code."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def fail_config(error: ConfigError) -> NoReturn:
    # The message already lists every offending setting; a traceback would only bury it.
    typer.echo(error.detail, err=True)
    raise typer.Exit(EXIT_CONFIG)


def load_settings() -> Settings:
    """The settings from the environment and `.env`, or a clean exit naming what is invalid."""
    try:
        return get_settings()
    except ValidationError as exc:
        prefix = _env_prefix(exc.title)
        problems = [
            f"{prefix}{'_'.join(str(part) for part in error['loc']).upper()}: {error['msg']}"
            for error in exc.errors()
        ]
        fail_config(ConfigError(problems))


def _env_prefix(model_name: str) -> str:
    """The variable prefix of the settings section named in a validation error."""
    candidates = [Settings, *(field.annotation for field in Settings.model_fields.values())]
    sections = [c for c in candidates if isinstance(c, type) and issubclass(c, BaseSettings)]
    for section in sections:
        if section.__name__ == model_name:
            return str(section.model_config.get("env_prefix", ""))
    return ""


def configure_quiet_logging(settings: Settings) -> None:
    """Log warnings and errors only (or less, if the settings ask for less)."""
    quieter = max(logging.getLevelName(settings.log.level), logging.WARNING)
    log = settings.log.model_copy(update={"level": logging.getLevelName(quieter)})
    corral_logging.configure(log, stream=StderrProxy())


def prepare() -> Settings:
    """Settings plus quiet logging: the start of every command but `serve`."""
    settings = load_settings()
    configure_quiet_logging(settings)
    return settings


def hide_url_password(url: str) -> str:
    """The URL with any password (in the user info or the query) replaced by a mask."""
    parts = urlsplit(url)
    netloc, query = parts.netloc, parts.query
    userinfo, at, hostport = netloc.rpartition("@")
    if at and ":" in userinfo:
        netloc = f"{userinfo.partition(':')[0]}:{MASK}@{hostport}"
    pairs = parse_qsl(query, keep_blank_values=True)
    if any("password" in key.lower() for key, _ in pairs):
        masked = [(k, MASK if "password" in k.lower() else v) for k, v in pairs]
        query = urlencode(masked, safe="*")
    if (netloc, query) == (parts.netloc, parts.query):
        # Unsplitting is not lossless (`sqlite:////abs` loses a slash), so only when needed.
        return url
    return urlunsplit(parts._replace(netloc=netloc, query=query))


def database_label(settings: Settings) -> str:
    return hide_url_password(settings.effective_database_url)


def run(coro: Coroutine[Any, Any, T], settings: Settings) -> T:
    """Run a command's coroutine; known failures become a message and an exit code."""
    try:
        return asyncio.run(coro)
    except ConfigError as exc:
        fail_config(exc)
    except CorralError as exc:
        fail(exc.detail)
    except DBAPIError as exc:
        fail(f"database error ({database_label(settings)}): {exc.orig}")
    except (SQLAlchemyError, OSError) as exc:
        fail(f"database error ({database_label(settings)}): {exc}")


def _known_revisions() -> set[str]:
    script = ScriptDirectory.from_config(alembic_config())
    return {revision.revision for revision in script.walk_revisions()}


async def require_schema_at_head(container: Container) -> None:
    """Refuse to work on a database whose schema is not the one this code expects."""
    current = await current_revisions(container.engine)
    heads = head_revisions()
    if current == heads:
        return
    where = database_label(container.settings)
    if not current:
        fail(f"the database {where} has no Corral schema yet; run `corral migrate` first")
    if current - _known_revisions():
        fail(
            f"the database {where} is at revision {', '.join(sorted(current))}, which this "
            "version of Corral does not know: it was migrated by a newer Corral"
        )
    fail(
        f"the database {where} is at revision {', '.join(sorted(current))}, not at "
        f"{', '.join(sorted(heads))}; run `corral migrate` first"
    )


def make_container(settings: Settings) -> Container:
    """The container, or a clean exit when the settings cannot make one."""
    try:
        return build_container(settings)
    except ValueError as exc:
        # The loop runner rejects unknown names in CORRAL_LOOPS_DISABLED this way.
        fail_config(ConfigError([str(exc)]))


@asynccontextmanager
async def open_container(settings: Settings) -> AsyncIterator[Container]:
    """The container over a database already migrated to head; always disposed."""
    container = make_container(settings)
    try:
        await require_schema_at_head(container)
        yield container
    finally:
        await container.aclose()


def print_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, default=str))


def print_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """Left-aligned columns; the last one is not padded."""
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]
    for line in [headers, *rows]:
        cells = [cell.ljust(w) for cell, w in zip(line[:-1], widths, strict=False)]
        typer.echo("  ".join([*cells, line[-1]]).rstrip())
