"""The hash chain: how an event is signed, and how appends get their place in their chain.

`row_hash = HMAC-SHA256(key[key_id], canonical_json(signed fields) || prev_hash)`, with RFC 8785
canonical JSON. Each chain (an application, else an organization, else `system`) numbers its
events 1, 2, 3… without gaps; the first event's `prev_hash` is 32 zero bytes.

`record()` only adds the event to the session (it is synchronous and called from every
mutation). Its place in the chain is taken when the session flushes, inside the mutation's own
transaction: the chain's head row is locked (`SELECT … FOR UPDATE` on PostgreSQL; SQLite
transactions that write hold the database's one write lock from BEGIN), so two transactions
never take the same sequence number, and the lock is held until commit, so sequence order is
commit order and the chain never forks.
"""

from __future__ import annotations

import hashlib
import hmac
import weakref
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, cast

import orjson
import structlog
from sqlalchemy import Connection, Engine, Table, event, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm import Session, UOWTransaction

from corral.audit import canonical
from corral.audit.models import SYSTEM_CHAIN, AuditChainHead, AuditEvent
from corral.core.clock import as_utc, utcnow
from corral.core.ids import new_id

GENESIS_HASH = "0" * 64
# Rows written through an engine no keyring was attached to (a script's own engine) are
# signed with this publicly known key; verification never trusts it unless configured.
UNCONFIGURED_KEY_ID = "unconfigured"
_UNCONFIGURED_KEY = hashlib.sha256(b"corral audit: no key configured").digest()

# The fields an event's HMAC covers, in the form they are exported.
SIGNED_FIELDS = (
    "id",
    "chain_id",
    "seq",
    "org_id",
    "application_id",
    "actor_type",
    "actor_id",
    "action",
    "target_type",
    "target_id",
    "outcome",
    "details",
    "before",
    "after",
    "request_id",
    "ip_address",
    "user_agent",
    "created_at",
)
_HEADS = cast(Table, AuditChainHead.__table__)
_log = structlog.get_logger(__name__)


class AuditKeys:
    """The HMAC keys of the chain: the first signs, every one verifies the rows naming it."""

    def __init__(self, keys: Iterable[tuple[str, bytes]]) -> None:
        self._keys = dict(keys)
        if not self._keys:
            raise ValueError("the audit chain needs at least one key")
        self.active_id = next(iter(self._keys))

    def __contains__(self, key_id: str) -> bool:
        return key_id in self._keys

    def row_hash(self, key_id: str, signed: bytes, prev_hash: str) -> str:
        return hmac.new(self._keys[key_id], signed + bytes.fromhex(prev_hash), "sha256").hexdigest()


def chain_of(org_id: str | None, application_id: str | None) -> str:
    return application_id or org_id or SYSTEM_CHAIN


def canonical_json(value: Any) -> bytes:
    """RFC 8785 (JCS) bytes of a JSON value."""
    return canonical.dumps(value)


def format_time(value: datetime) -> str:
    """The one textual form of an event's time (UTC, microseconds) that is signed and shown."""
    return as_utc(value).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def json_value(value: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A mapping as it will read back from a JSON column (datetimes become text, and so on)."""
    if value is None:
        return None
    loaded: dict[str, Any] = orjson.loads(orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS))
    return loaded


def signed_fields(row: Any) -> dict[str, Any]:
    """The fields of an event (ORM object or result row) that its HMAC covers."""
    fields = {name: getattr(row, name) for name in SIGNED_FIELDS}
    fields["created_at"] = format_time(fields["created_at"])
    return fields


def document(row: Any) -> dict[str, Any]:
    """An event as exported: its signed fields with its place in the chain.

    The canonical JSON of this document is the Merkle leaf of the event, so an auditor holding
    the document, an inclusion proof and a signed anchor needs nothing else.
    """
    return {
        **signed_fields(row),
        "key_id": row.key_id,
        "prev_hash": row.prev_hash,
        "row_hash": row.row_hash,
    }


_keys_by_engine: weakref.WeakKeyDictionary[Engine, AuditKeys] = weakref.WeakKeyDictionary()


def attach_keys(engine: AsyncEngine | Engine, keys: AuditKeys) -> None:
    """Sign the audit events written through `engine` with `keys`."""
    sync = engine.sync_engine if isinstance(engine, AsyncEngine) else engine
    _keys_by_engine[sync] = keys


def _keys_for(bind: Engine | Connection) -> AuditKeys:
    engine = bind.engine if isinstance(bind, Connection) else bind
    keys = _keys_by_engine.get(engine)
    if keys is None:
        _log.warning("audit.unconfigured_key", hint="attach_keys() was not called on this engine")
        return AuditKeys([(UNCONFIGURED_KEY_ID, _UNCONFIGURED_KEY)])
    return keys


def _lock_head(connection: Connection, chain_id: str) -> tuple[int, str]:
    """Create the chain's head if it is new, or lock it; its (seq, row_hash). One statement.

    `ON CONFLICT DO UPDATE` with a no-op assignment locks the existing row like `SELECT … FOR
    UPDATE` would (waiting for a transaction that holds it, then reading its committed state),
    and creates the head of a new chain without a race between two first appends.
    """
    dialect = connection.dialect.name
    insert_into = postgresql.insert if dialect == "postgresql" else sqlite.insert
    head = connection.execute(
        insert_into(_HEADS)
        .values(chain_id=chain_id, seq=0, row_hash=GENESIS_HASH)
        .on_conflict_do_update(index_elements=["chain_id"], set_={"seq": _HEADS.c.seq})
        .returning(_HEADS.c.seq, _HEADS.c.row_hash)
    ).one()
    return int(head.seq), str(head.row_hash)


def _seal(event_: AuditEvent, keys: AuditKeys, seq: int, prev_hash: str) -> str:
    # Events built without `record()` get what the column defaults would give them later.
    state: dict[str, Any] = event_.__dict__
    if state.get("id") is None:
        event_.id = new_id("aud")
    if state.get("created_at") is None:
        event_.created_at = utcnow()
    if state.get("outcome") is None:
        event_.outcome = "success"
    event_.details = json_value(state.get("details")) or {}
    event_.before = json_value(state.get("before"))
    event_.after = json_value(state.get("after"))
    event_.seq = seq
    event_.prev_hash = prev_hash
    event_.key_id = keys.active_id
    event_.row_hash = keys.row_hash(
        keys.active_id, canonical_json(signed_fields(event_)), prev_hash
    )
    return event_.row_hash


def _append_new_events(session: Session, _: UOWTransaction, __: object) -> None:
    pending = [obj for obj in session.new if isinstance(obj, AuditEvent)]
    if not pending:
        return
    keys = _keys_for(session.get_bind())
    connection = session.connection()
    by_chain: dict[str, list[AuditEvent]] = {}
    for event_ in pending:
        event_.chain_id = chain_of(event_.org_id, event_.application_id)
        by_chain.setdefault(event_.chain_id, []).append(event_)
    # A fixed lock order: two transactions appending to the same chains cannot deadlock.
    for chain_id in sorted(by_chain):
        seq, row_hash = _lock_head(connection, chain_id)
        for event_ in by_chain[chain_id]:
            seq += 1
            row_hash = _seal(event_, keys, seq, row_hash)
        connection.execute(
            update(_HEADS).where(_HEADS.c.chain_id == chain_id).values(seq=seq, row_hash=row_hash)
        )


event.listen(Session, "before_flush", _append_new_events)
