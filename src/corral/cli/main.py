"""The `corral` command: one sub-command group per module, each a thin layer over services."""

from __future__ import annotations

import typer

from corral import __version__
from corral.cli import admin, approvals, audit, config, keys, loops, secrets
from corral.cli.migrate import migrate
from corral.cli.serve import serve
from corral.cli.worker import worker

app = typer.Typer(
    name="corral",
    help="Corral: a self-hosted control plane for AI agents.",
    no_args_is_help=True,
    add_completion=False,
    # Locals of a failing frame may hold secrets; tracebacks must never print them.
    pretty_exceptions_show_locals=False,
)
app.command()(serve)
app.command()(migrate)
app.command()(worker)
app.add_typer(secrets.app, name="secrets")
app.add_typer(config.app, name="config")
app.add_typer(loops.app, name="loops")
app.add_typer(admin.app, name="admin")
app.add_typer(keys.app, name="keys")
app.add_typer(audit.app, name="audit")
app.add_typer(approvals.app, name="approvals")


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"corral {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_print_version, is_eager=True, help="Print the version."
    ),
) -> None:
    """Corral: a self-hosted control plane for AI agents."""


def main() -> None:
    """Entry point of the `corral` console script."""
    app()


if __name__ == "__main__":
    main()
