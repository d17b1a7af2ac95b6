"""`corral admin`: offline account administration, straight against the database."""

from __future__ import annotations

import dataclasses
import secrets
import sys
from dataclasses import dataclass
from typing import Annotated, Any

import typer
from sqlalchemy import select

from corral.cli.runtime import (
    CLI_ACTOR,
    fail,
    open_container,
    prepare,
    print_json,
    print_table,
    run,
)
from corral.core.clock import utcnow
from corral.core.db import transaction
from corral.core.settings import Settings
from corral.identity.models import Membership, Organization, User
from corral.identity.services import accounts, organizations
from corral.secrets_at_rest import ReencryptReport, reencrypt_all

app = typer.Typer(
    help="Administer accounts and stored secrets (works with the server stopped).",
    no_args_is_help=True,
)

_JSON = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


async def _reset_password(settings: Settings, email: str, disable_mfa: bool) -> str:
    async with open_container(settings) as container, transaction(container.sessions) as session:
        return await accounts.reset_password(
            session, container.accounts, email=email, disable_mfa=disable_mfa, actor=CLI_ACTOR
        )


@app.command("reset-password")
def reset_password(
    email: Annotated[str, typer.Option(help="Email address of the account.")],
    disable_mfa: Annotated[
        bool, typer.Option("--disable-mfa", help="Also turn off two-factor authentication.")
    ] = False,
) -> None:
    """Give an account a one-time temporary password; it must be changed at next sign-in.

    Also unlocks the account and signs out all of its sessions.
    """
    settings = prepare()
    temporary = run(_reset_password(settings, email, disable_mfa), settings)
    typer.echo(f"Temporary password for {accounts.normalize_email(email)} (shown once):")
    typer.echo(f"  {temporary}")
    typer.echo("It must be changed at the next sign-in. All sessions were signed out.")
    if disable_mfa:
        typer.echo("Two-factor authentication is now off for this account.")


@dataclass(frozen=True, slots=True)
class _Created:
    user: User
    org: Organization | None
    application_id: str | None


async def _create_user(
    settings: Settings, email: str, name: str, org: str | None, password: str, generated: bool
) -> _Created:
    async with open_container(settings) as container, transaction(container.sessions) as session:
        user = await accounts.create_user(
            session,
            container.accounts,
            email=email,
            password=password,
            name=name,
            actor=CLI_ACTOR,
            # A password that was printed on an administrator's terminal is not the user's own.
            must_change_password=generated,
        )
        if org is None:
            return _Created(user, None, None)
        organization, application = await organizations.create_organization(
            session, user, name=org, actor=CLI_ACTOR
        )
        return _Created(user, organization, application.id)


def _password_from_stdin() -> str:
    password = sys.stdin.read().rstrip("\r\n")
    if not password:
        fail("--password-stdin was given but stdin held no password")
    return password


@app.command("create-user")
def create_user(
    email: Annotated[str, typer.Option(help="Email address; it is also the sign-in name.")],
    name: Annotated[str, typer.Option(help="Display name.")] = "",
    org: Annotated[
        str | None,
        typer.Option(help="Also create an organization with this name, owned by the user."),
    ] = None,
    password_stdin: Annotated[
        bool,
        typer.Option(
            "--password-stdin",
            help="Read the password from stdin. Otherwise one is generated, printed once, "
            "and must be changed at first sign-in.",
        ),
    ] = False,
) -> None:
    """Create a user, without an organization unless --org is given."""
    settings = prepare()
    generated = not password_stdin
    password = secrets.token_urlsafe(18) if generated else _password_from_stdin()
    created = run(_create_user(settings, email, name, org, password, generated), settings)
    typer.echo(f"Created user {created.user.id} <{created.user.email}>.")
    if created.org is not None:
        typer.echo(
            f"Created organization {created.org.id} ({created.org.name!r}), owned by the user, "
            f"with default application {created.application_id}."
        )
    if generated:
        typer.echo("Password (shown once; it must be changed at first sign-in):")
        typer.echo(f"  {password}")


async def _list_users(settings: Settings) -> list[dict[str, Any]]:
    async with open_container(settings) as container, transaction(container.sessions) as session:
        users = (await session.scalars(select(User).order_by(User.created_at, User.id))).all()
        rows = await session.execute(
            select(Membership.user_id, Organization.id, Organization.name, Membership.role)
            .join(Organization, Organization.id == Membership.org_id)
            .order_by(Membership.created_at, Organization.id)
        )
        orgs: dict[str, list[dict[str, str]]] = {}
        for user_id, org_id, org_name, role in rows:
            orgs.setdefault(user_id, []).append({"id": org_id, "name": org_name, "role": role})
    now = utcnow()
    return [
        {
            "id": user.id,
            "email": user.email,
            "name": user.name,
            "orgs": orgs.get(user.id, []),
            "locked": user.locked_until is not None and user.locked_until > now,
            "locked_until": user.locked_until.isoformat() if user.locked_until else None,
            "must_change_password": user.must_change_password,
            "mfa_enabled": user.mfa_enabled,
            "created_at": user.created_at.isoformat(),
        }
        for user in users
    ]


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


@app.command("list-users")
def list_users(as_json: _JSON = False) -> None:
    """List every user with their organizations and account state."""
    settings = prepare()
    users = run(_list_users(settings), settings)
    if as_json:
        print_json(users)
        return
    print_table(
        ["ID", "EMAIL", "NAME", "LOCKED", "MUST CHANGE PW", "MFA", "CREATED", "ORGS (ROLE)"],
        [
            [
                user["id"],
                user["email"],
                user["name"] or "-",
                _yes(user["locked"]),
                _yes(user["must_change_password"]),
                _yes(user["mfa_enabled"]),
                user["created_at"],
                ", ".join(f"{o['name']} {o['id']} ({o['role']})" for o in user["orgs"]) or "-",
            ]
            for user in users
        ],
    )


async def _reencrypt(settings: Settings) -> list[ReencryptReport]:
    async with open_container(settings) as container:
        return await reencrypt_all(container.sessions, container.keyring)


@app.command("reencrypt")
def reencrypt(as_json: _JSON = False) -> None:
    """Move every stored secret to the first key of CORRAL_ENCRYPTION_KEYS; exit 1 on failures."""
    settings = prepare()
    reports = run(_reencrypt(settings), settings)
    if as_json:
        print_json([dataclasses.asdict(report) for report in reports])
    else:
        print_table(
            ["COLUMN", "EXAMINED", "REENCRYPTED", "CURRENT", "CHANGED MEANWHILE", "FAILED"],
            [
                [
                    r.column,
                    str(r.examined),
                    str(r.reencrypted),
                    str(r.already_current),
                    str(r.changed_meanwhile),
                    str(r.failed),
                ]
                for r in reports
            ],
        )
    failures = [f"{r.column}: {', '.join(r.failed_ids)}" for r in reports if r.failed]
    if failures:
        fail(
            "some secrets cannot be decrypted with CORRAL_ENCRYPTION_KEYS (a key is missing, "
            "or the row was altered): " + "; ".join(failures),
            code=1,
        )
