"""ingest settings, price overrides, and spans keyed (and on PostgreSQL partitioned) by start time

`spans` is rebuilt, keeping its rows: the primary key becomes `(id, start_time)` and the unique
key `(application_id, trace_id, span_id, start_time)`, because PostgreSQL requires the partition
key in both. On PostgreSQL the new table is range-partitioned by `start_time` with a default
partition; the `trace_retention` loop creates the daily partitions and moves rows out of the
default one.

Revision ID: 0004_ingest_settings
Revises: 0003_governance
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_ingest_settings"
down_revision = "0003_governance"
branch_labels = None
depends_on = None

_COPY = "spans_rebuild_copy"
_COLUMNS = (
    "id, org_id, application_id, trace_id, span_id, parent_span_id, name, kind, category, "
    "call_name, start_time, end_time, duration_ms, status, status_message, agent_name, "
    "tool_name, model, provider, end_user_id, input_tokens, output_tokens, cost_usd, "
    "attributes, resource_attributes, events, created_at"
)


def _span_columns() -> list[sa.Column[object]]:
    return [
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("application_id", sa.String(length=40), nullable=False),
        sa.Column("trace_id", sa.String(length=32), nullable=False),
        sa.Column("span_id", sa.String(length=16), nullable=False),
        sa.Column("parent_span_id", sa.String(length=16), nullable=True),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("category", sa.String(length=32), nullable=False),
        sa.Column("call_name", sa.Text(), nullable=False),
        sa.Column("start_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("end_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("duration_ms", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("status_message", sa.Text(), nullable=False),
        sa.Column("agent_name", sa.Text(), nullable=True),
        sa.Column("tool_name", sa.Text(), nullable=True),
        sa.Column("model", sa.Text(), nullable=True),
        sa.Column("provider", sa.Text(), nullable=True),
        sa.Column("end_user_id", sa.Text(), nullable=True),
        sa.Column("input_tokens", sa.BigInteger(), nullable=True),
        sa.Column("output_tokens", sa.BigInteger(), nullable=True),
        sa.Column("cost_usd", sa.Numeric(precision=20, scale=10), nullable=True),
        sa.Column("attributes", sa.JSON(), nullable=False),
        sa.Column("resource_attributes", sa.JSON(), nullable=False),
        sa.Column("events", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    ]


def _foreign_keys() -> list[sa.ForeignKeyConstraint]:
    return [
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["applications.id"],
            name=op.f("fk_spans_application_id_applications"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_spans_org_id_organizations"),
            ondelete="CASCADE",
        ),
    ]


# The SQL below interpolates only the module's own constant identifiers (hence the noqa).


def _set_spans_aside() -> None:
    op.execute(f"CREATE TABLE {_COPY} AS SELECT {_COLUMNS} FROM spans")  # noqa: S608
    op.drop_table("spans")


def _restore_spans(*, ignore_duplicates: bool) -> None:
    if not ignore_duplicates:
        op.execute(f"INSERT INTO spans ({_COLUMNS}) SELECT {_COLUMNS} FROM {_COPY}")  # noqa: S608
    elif op.get_bind().dialect.name == "postgresql":
        op.execute(
            f"INSERT INTO spans ({_COLUMNS}) SELECT {_COLUMNS} FROM {_COPY} "  # noqa: S608
            "ON CONFLICT DO NOTHING"
        )
    else:
        op.execute(
            f"INSERT OR IGNORE INTO spans ({_COLUMNS}) SELECT {_COLUMNS} FROM {_COPY}"  # noqa: S608
        )
    op.drop_table(_COPY)


def upgrade() -> None:
    _set_spans_aside()
    op.create_table(
        "spans",
        *_span_columns(),
        *_foreign_keys(),
        sa.PrimaryKeyConstraint("id", "start_time", name=op.f("pk_spans")),
        sa.UniqueConstraint(
            "application_id",
            "trace_id",
            "span_id",
            "start_time",
            name=op.f("uq_spans_application_id_trace_id_span_id_start_time"),
        ),
        postgresql_partition_by="RANGE (start_time)",
    )
    op.create_index("ix_spans_application_start", "spans", ["application_id", "start_time"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE TABLE spans_default PARTITION OF spans DEFAULT")
    _restore_spans(ignore_duplicates=False)

    op.create_table(
        "ingest_settings",
        sa.Column("application_id", sa.String(length=40), nullable=False),
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("redaction_enabled", sa.Boolean(), nullable=False),
        sa.Column("credentials", sa.Boolean(), nullable=False),
        sa.Column("pii_entities", sa.JSON(), nullable=True),
        sa.Column("allowlist", sa.JSON(), nullable=False),
        sa.Column("key_actions", sa.JSON(), nullable=False),
        sa.Column("detector_actions", sa.JSON(), nullable=False),
        sa.Column("default_action", sa.String(length=16), nullable=False),
        sa.Column("disabled_detectors", sa.JSON(), nullable=False),
        sa.Column("sampling_rate", sa.Float(), nullable=True),
        sa.Column("retention_days", sa.Integer(), nullable=True),
        sa.Column("revision", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["applications.id"],
            name=op.f("fk_ingest_settings_application_id_applications"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_ingest_settings_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("application_id", name=op.f("pk_ingest_settings")),
    )
    op.create_table(
        "model_price_overrides",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("application_id", sa.String(length=40), nullable=False),
        sa.Column("model", sa.String(length=200), nullable=False),
        sa.Column("input", sa.Numeric(precision=20, scale=10), nullable=False),
        sa.Column("output", sa.Numeric(precision=20, scale=10), nullable=False),
        sa.Column("cache_read", sa.Numeric(precision=20, scale=10), nullable=True),
        sa.Column("cache_write", sa.Numeric(precision=20, scale=10), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["applications.id"],
            name=op.f("fk_model_price_overrides_application_id_applications"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_model_price_overrides_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_model_price_overrides")),
        sa.UniqueConstraint(
            "application_id", "model", name=op.f("uq_model_price_overrides_application_id_model")
        ),
    )


def downgrade() -> None:
    op.drop_table("model_price_overrides")
    op.drop_table("ingest_settings")
    _set_spans_aside()  # on PostgreSQL, dropping the partitioned table drops its partitions
    op.create_table(
        "spans",
        *_span_columns(),
        *_foreign_keys(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_spans")),
        sa.UniqueConstraint(
            "application_id",
            "trace_id",
            "span_id",
            name=op.f("uq_spans_application_id_trace_id_span_id"),
        ),
    )
    op.create_index("ix_spans_application_start", "spans", ["application_id", "start_time"])
    # Spans that differ only by start time were two rows; the old key keeps one of them.
    _restore_spans(ignore_duplicates=True)
