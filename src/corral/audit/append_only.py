"""Database triggers that make the audit tables append-only.

The same statements are issued by the migration and, through DDL listeners, by
`metadata.create_all` (benchmarks and ad-hoc databases), so every audit table is protected no
matter how it was created. Dropping a trigger needs the database owner's rights: the point is
that no application code path, bug or SQL injection through the app can rewrite history.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Table, event

APPEND_ONLY_TABLES = ("audit_events", "audit_anchors")
PG_FUNCTION = "corral_audit_append_only"

_PG_FUNCTION_SQL = f"""
CREATE OR REPLACE FUNCTION {PG_FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only (% refused)', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$
"""


def sqlite_statements(table: str) -> list[str]:
    return [
        f"CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table} "
        f"BEGIN SELECT RAISE(ABORT, '{table} is append-only (UPDATE refused)'); END",
        f"CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table} "
        f"BEGIN SELECT RAISE(ABORT, '{table} is append-only (DELETE refused)'); END",
    ]


def postgresql_statements(table: str) -> list[str]:
    return [
        _PG_FUNCTION_SQL,
        f"CREATE TRIGGER {table}_no_change BEFORE UPDATE OR DELETE ON {table} "
        f"FOR EACH ROW EXECUTE FUNCTION {PG_FUNCTION}()",
        f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
        f"FOR EACH STATEMENT EXECUTE FUNCTION {PG_FUNCTION}()",
    ]


def drop_statements(dialect: str, table: str) -> list[str]:
    if dialect == "postgresql":
        return [
            f"DROP TRIGGER IF EXISTS {table}_no_change ON {table}",
            f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}",
        ]
    return [
        f"DROP TRIGGER IF EXISTS {table}_no_update",
        f"DROP TRIGGER IF EXISTS {table}_no_delete",
    ]


def _create_triggers(table: Table, connection: Connection, **_: Any) -> None:
    dialect = connection.dialect.name
    if dialect == "postgresql":
        statements = postgresql_statements(table.name)
    elif dialect == "sqlite":
        statements = sqlite_statements(table.name)
    else:
        return
    for statement in statements:
        connection.exec_driver_sql(statement)


def attach(table: Table) -> None:
    """Create the triggers whenever `table` is created from the metadata."""
    event.listen(table, "after_create", _create_triggers)
