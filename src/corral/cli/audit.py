"""`corral audit`: verify the audit chains straight from the database (the server may be down)."""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any

import typer

from corral.audit.verify import ChainReport, chain_ids, verify_chain
from corral.cli.runtime import open_container, prepare, print_json, print_table, run
from corral.core.db import READ_ONLY
from corral.core.settings import Settings

app = typer.Typer(
    help="Inspect the audit log (works with the server stopped).", no_args_is_help=True
)

EXIT_BROKEN = 3


async def _verify(
    settings: Settings, chains: list[str], from_seq: int | None, to_seq: int | None
) -> list[ChainReport]:
    async with open_container(settings) as container, container.sessions() as session:
        await session.connection(execution_options={READ_ONLY: True})
        targets = chains or await chain_ids(session)
        return [
            await verify_chain(
                session,
                container.audit_keys,
                chain_id,
                from_seq=from_seq,
                to_seq=to_seq,
                anchor_key=container.anchor_signer.public_key,
            )
            for chain_id in targets
        ]


def _as_json(report: ChainReport) -> dict[str, Any]:
    data = dataclasses.asdict(report)
    data["seconds"] = round(report.seconds, 4)
    data["events_per_second"] = round(report.events_per_second, 1)
    return data


@app.command()
def verify(
    application: Annotated[
        list[str] | None,
        typer.Option(
            "--application",
            "--chain",
            help="Chain to verify: an application id (app_…), an organization id for its own "
            "events, or `system`; repeat for several. Default: every chain.",
        ),
    ] = None,
    from_seq: Annotated[int | None, typer.Option(min=1, help="First sequence number.")] = None,
    to_seq: Annotated[int | None, typer.Option(min=1, help="Last sequence number.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Walk the audit chains: every HMAC, link and sequence number. Exits 3 on a broken chain."""
    settings = prepare()
    reports = run(_verify(settings, list(application or []), from_seq, to_seq), settings)
    if as_json:
        print_json({"ok": all(r.ok for r in reports), "chains": [_as_json(r) for r in reports]})
    else:
        rows = [
            [
                r.chain_id,
                "ok" if r.ok else "BROKEN",
                str(r.events_checked),
                str(r.head_seq),
                "" if r.first_bad_seq is None else str(r.first_bad_seq),
                r.reason or "",
                f"{r.events_per_second:,.0f}",
            ]
            for r in reports
        ]
        print_table(["CHAIN", "STATUS", "CHECKED", "HEAD", "FIRST BAD", "REASON", "EVENTS/S"], rows)
        for r in reports:
            if r.detail:
                typer.echo(f"{r.chain_id}: seq {r.first_bad_seq}: {r.detail}", err=True)
    if not all(r.ok for r in reports):
        raise typer.Exit(EXIT_BROKEN)
