"""The connection a run's tool names, and its credentials ready to be put on a request.

A run may use the connections of its own application, plus those of its end-user when it runs
for one; never another application's or another end-user's. A tool names its connection by id
or by name; when the run's end-user owns a connection of that name it is the one used (that is
what end-user connections are for: the same tool, each end-user's own account).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from urllib.parse import quote

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from corral.connections import credentials
from corral.connections.models import Connection
from corral.core.crypto import EncryptionKeyring
from corral.core.ids import is_well_formed
from corral.runs.sidecar.contracts import SidecarRun

# Shorter secret values are not scrubbed from results: replacing every "ab" in a body would
# garble it and hide nothing worth hiding.
MIN_SCRUBBED_CHARS = 4


@dataclass(frozen=True, slots=True)
class ToolCredentials:
    """What to add to a tool's request, where it may go, and the values to keep out of output."""

    connection_id: str
    headers: dict[str, str] = field(default_factory=dict)
    query: dict[str, str] = field(default_factory=dict)
    authorized_uris: tuple[str, ...] = ()
    secrets: tuple[str, ...] = ()


async def find_connection(
    session: AsyncSession, run: SidecarRun, reference: str
) -> Connection | None:
    owners: list[ColumnElement[bool]] = [Connection.end_user_id.is_(None)]
    if run.end_user_id is not None:
        owners.append(Connection.end_user_id == run.end_user_id)
    query = select(Connection).where(
        Connection.org_id == run.org_id,
        Connection.application_id == run.application_id,
        or_(*owners),
    )
    if is_well_formed(reference, "con"):
        return await session.scalar(query.where(Connection.id == reference))
    found = list(await session.scalars(query.where(Connection.name == reference)))
    # The end-user's own connection of that name wins over the application's.
    found.sort(key=lambda connection: connection.end_user_id is None)
    return found[0] if found else None


def tool_credentials(keyring: EncryptionKeyring, connection: Connection) -> ToolCredentials:
    """Decrypt the connection's secret and say where it travels (header, query, Authorization)."""
    opened = credentials.open_secret(keyring, connection)
    params = connection.auth_params
    headers: dict[str, str] = {}
    query: dict[str, str] = {}
    secrets = list(opened.values())
    match connection.auth_type:
        case "header":
            headers[params["name"]] = opened["value"]
        case "query":
            query[params["name"]] = opened["value"]
        case "bearer":
            headers["Authorization"] = f"Bearer {opened['token']}"
        case "basic":
            pair = f"{params['username']}:{opened['password']}".encode()
            token = base64.b64encode(pair).decode("ascii")
            headers["Authorization"] = f"Basic {token}"
            secrets.append(token)
        case other:
            raise ValueError(f"unknown auth type {other!r}")
    # A server echoing the URL it was asked for shows a query credential percent-encoded.
    secrets += [quote(secret, safe="") for secret in secrets]
    kept = (s for s in dict.fromkeys(secrets) if len(s) >= MIN_SCRUBBED_CHARS)
    return ToolCredentials(
        connection_id=connection.id,
        headers=headers,
        query=query,
        authorized_uris=tuple(connection.authorized_uris),
        # Longest first, so a secret containing another is scrubbed whole.
        secrets=tuple(sorted(kept, key=len, reverse=True)),
    )
