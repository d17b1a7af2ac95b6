"""`corral loops`: the registered background loops and whether this process would run them."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from corral.cli.runtime import make_container, prepare, print_json, print_table, run
from corral.core.settings import Settings

app = typer.Typer(help="Inspect the background loops.", no_args_is_help=True)


async def _describe(settings: Settings) -> list[dict[str, Any]]:
    # Building the container registers the loops without starting them or touching the database.
    container = make_container(settings)
    try:
        return [
            {
                "name": status.name,
                "description": status.description,
                "interval_seconds": status.interval_seconds,
                "enabled": status.enabled,
                "leader_only": status.leader_only,
            }
            for status in container.loops.status()
        ]
    finally:
        await container.aclose()


def _interval(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return f"{seconds:g}s"


@app.command("list")
def list_loops(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """List every loop, enabled or disabled by the settings (CORRAL_LOOPS_*)."""
    settings = prepare()
    loops = run(_describe(settings), settings)
    if as_json:
        print_json(loops)
        return
    print_table(
        ["NAME", "STATE", "LEADER ONLY", "INTERVAL", "DESCRIPTION"],
        [
            [
                loop["name"],
                "enabled" if loop["enabled"] else "disabled",
                "yes" if loop["leader_only"] else "no",
                _interval(loop["interval_seconds"]),
                loop["description"],
            ]
            for loop in loops
        ],
    )
