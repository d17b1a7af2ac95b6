"""Changing audit rows behind the triggers' back, as an attacker with database access would.

Each helper opens its own raw connection, switches the append-only triggers off, applies the
statements and switches them back on, so the tests also show that nothing short of that
works.
"""

from __future__ import annotations

import re
import sqlite3
from contextlib import closing
from typing import Any

import psycopg

from corral.audit import append_only

Statement = tuple[str, dict[str, Any]]


def tamper(database_url: str, *statements: Statement) -> None:
    """Run `statements` (`:name` parameters) with the audit tables' triggers off."""
    if database_url.startswith("sqlite"):
        path = database_url.split(":///", 1)[1]
        with closing(sqlite3.connect(path)) as conn:
            for table in append_only.APPEND_ONLY_TABLES:
                for drop in append_only.drop_statements("sqlite", table):
                    conn.execute(drop)
            for sql, params in statements:
                conn.execute(sql, params)
            for table in append_only.APPEND_ONLY_TABLES:
                for create in append_only.sqlite_statements(table):
                    conn.execute(create)
            conn.commit()
        return
    url = database_url.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(url) as conn:
        for table in append_only.APPEND_ONLY_TABLES:
            conn.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
        for sql, params in statements:
            conn.execute(re.sub(r":(\w+)", r"%(\1)s", sql).encode(), params)
        for table in append_only.APPEND_ONLY_TABLES:
            conn.execute(f"ALTER TABLE {table} ENABLE TRIGGER USER")


def raw_execute(database_url: str, sql: str, params: dict[str, Any] | None = None) -> None:
    """Run one statement on a raw connection with the triggers left on."""
    if database_url.startswith("sqlite"):
        path = database_url.split(":///", 1)[1]
        with closing(sqlite3.connect(path)) as conn:
            conn.execute(sql, params or {})
            conn.commit()
        return
    url = database_url.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(url) as conn:
        conn.execute(re.sub(r":(\w+)", r"%(\1)s", sql).encode(), params or {})


def modify(chain_id: str, seq: int) -> Statement:
    return (
        "UPDATE audit_events SET action = 'policy.tampered' WHERE chain_id = :c AND seq = :s",
        {"c": chain_id, "s": seq},
    )


def delete(chain_id: str, seq: int) -> Statement:
    return ("DELETE FROM audit_events WHERE chain_id = :c AND seq = :s", {"c": chain_id, "s": seq})


def swap(chain_id: str, seq: int) -> list[Statement]:
    """Exchange the places of events `seq` and `seq + 1`."""
    params = {"c": chain_id, "a": seq, "b": seq + 1}
    return [
        ("UPDATE audit_events SET seq = -1 WHERE chain_id = :c AND seq = :a", params),
        ("UPDATE audit_events SET seq = :a WHERE chain_id = :c AND seq = :b", params),
        ("UPDATE audit_events SET seq = :b WHERE chain_id = :c AND seq = -1", params),
    ]


def forge_next(chain_id: str, head_seq: int, prev_hash: str, key_id: str) -> list[Statement]:
    """Append an event made up without the HMAC key, and move the head over it."""
    seq = head_seq + 1
    params: dict[str, Any] = {
        "k": key_id,
        "at": "2026-01-01 00:00:00.000000",
        "c": chain_id,
        "s": seq,
        "prev": prev_hash,
        "hash": "ab" * 32,
        "id": f"aud_forged{seq:016d}",
    }
    return [
        (
            "INSERT INTO audit_events (id, chain_id, seq, org_id, application_id, actor_type, "
            "actor_id, action, target_type, target_id, outcome, details, request_id, "
            "ip_address, created_at, key_id, prev_hash, row_hash) VALUES (:id, :c, :s, NULL, "
            ":c, 'user', NULL, 'policy.deleted', 'policy', NULL, 'success', '{}', NULL, NULL, "
            ":at, :k, :prev, :hash)",
            params,
        ),
        ("UPDATE audit_chain_heads SET seq = :s, row_hash = :hash WHERE chain_id = :c", params),
    ]
