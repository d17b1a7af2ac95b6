"""audit chain: sequence and HMAC per chain, chain heads, signed anchors, append-only triggers

Events recorded before this revision cannot be signed here (migrations hold no keys): they get
their chain and sequence numbers and the key id `legacy`, and stay as an unsigned prefix of
their chain that verification counts and reports; every later event is signed.

Revision ID: 0012_audit_chain
Revises: 0011_halts_budgets
Create Date: 2026-12-02 09:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012_audit_chain"
down_revision = "0011_halts_budgets"
branch_labels = None
depends_on = None

_GENESIS = "0" * 64
_TABLES = ("audit_events", "audit_anchors")
_PG_FUNCTION = """
CREATE OR REPLACE FUNCTION corral_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only (% refused)', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$
"""


def _triggers(dialect: str, table: str) -> list[str]:
    if dialect == "postgresql":
        return [
            f"CREATE TRIGGER {table}_no_change BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION corral_audit_append_only()",
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION corral_audit_append_only()",
        ]
    return [
        f"CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table} "
        f"BEGIN SELECT RAISE(ABORT, '{table} is append-only (UPDATE refused)'); END",
        f"CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table} "
        f"BEGIN SELECT RAISE(ABORT, '{table} is append-only (DELETE refused)'); END",
    ]


def _drop_triggers(dialect: str, table: str) -> list[str]:
    if dialect == "postgresql":
        return [
            f"DROP TRIGGER IF EXISTS {table}_no_change ON {table}",
            f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}",
        ]
    return [
        f"DROP TRIGGER IF EXISTS {table}_no_update",
        f"DROP TRIGGER IF EXISTS {table}_no_delete",
    ]


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("chain_id", sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column("seq", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("outcome", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("before", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("after", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("user_agent", sa.String(length=256), nullable=True))
        batch_op.add_column(sa.Column("key_id", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("prev_hash", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("row_hash", sa.String(length=64), nullable=True))
    # Earlier events: chained by time, unsigned (see the module docstring).
    op.execute(
        "UPDATE audit_events SET chain_id = COALESCE(application_id, org_id, 'system'), "
        "outcome = 'success', key_id = 'legacy', prev_hash = '', row_hash = ''"
    )
    op.execute(
        "UPDATE audit_events SET seq = (SELECT COUNT(*) FROM audit_events AS earlier "
        "WHERE earlier.chain_id = audit_events.chain_id AND (earlier.created_at < "
        "audit_events.created_at OR (earlier.created_at = audit_events.created_at "
        "AND earlier.id <= audit_events.id)))"
    )
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        for name in ("chain_id", "seq", "outcome", "key_id", "prev_hash", "row_hash"):
            batch_op.alter_column(name, nullable=False)
        batch_op.create_unique_constraint(
            batch_op.f("uq_audit_events_chain_id_seq"), ["chain_id", "seq"]
        )

    op.create_table(
        "audit_chain_heads",
        sa.Column("chain_id", sa.String(length=40), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("row_hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("chain_id", name=op.f("pk_audit_chain_heads")),
    )
    op.execute(
        sa.text(
            "INSERT INTO audit_chain_heads (chain_id, seq, row_hash) "
            "SELECT chain_id, MAX(seq), :genesis FROM audit_events GROUP BY chain_id"
        ).bindparams(genesis=_GENESIS)
    )
    op.create_table(
        "audit_anchors",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("chain_id", sa.String(length=40), nullable=False),
        sa.Column("org_id", sa.String(length=40), nullable=True),
        sa.Column("application_id", sa.String(length=40), nullable=True),
        sa.Column("first_seq", sa.BigInteger(), nullable=False),
        sa.Column("last_seq", sa.BigInteger(), nullable=False),
        sa.Column("tree_size", sa.Integer(), nullable=False),
        sa.Column("root_hash", sa.String(length=64), nullable=False),
        sa.Column("public_key", sa.String(length=64), nullable=False),
        sa.Column("signature", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_anchors")),
        sa.UniqueConstraint(
            "chain_id", "first_seq", name=op.f("uq_audit_anchors_chain_id_first_seq")
        ),
    )
    if dialect == "postgresql":
        op.execute(_PG_FUNCTION)
    for table in _TABLES:
        for statement in _triggers(dialect, table):
            op.execute(statement)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    for table in _TABLES:
        for statement in _drop_triggers(dialect, table):
            op.execute(statement)
    if dialect == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS corral_audit_append_only()")
    op.drop_table("audit_anchors")
    op.drop_table("audit_chain_heads")
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_audit_events_chain_id_seq"), type_="unique")
        for name in (
            "row_hash",
            "prev_hash",
            "key_id",
            "user_agent",
            "after",
            "before",
            "outcome",
            "seq",
            "chain_id",
        ):
            batch_op.drop_column(name)
