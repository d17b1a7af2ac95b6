"""halts and budgets: halts, budgets, their usage buckets and reservations

Revision ID: 0011_halts_budgets
Revises: 0010_email_mfa
Create Date: 2026-12-02 09:02:03.251105
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011_halts_budgets"
down_revision = "0010_email_mfa"
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "budgets",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("application_id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("metric", sa.String(length=16), nullable=False),
        sa.Column("limit_value", sa.Numeric(precision=20, scale=10), nullable=False),
        sa.Column("window", sa.String(length=8), nullable=False),
        sa.Column("window_kind", sa.String(length=8), nullable=False),
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column("scope_value", sa.String(length=255), nullable=False),
        sa.Column("end_user_external_id", sa.String(length=255), nullable=True),
        sa.Column("threshold_percent", sa.Integer(), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("observed", sa.Numeric(precision=20, scale=10), nullable=False),
        sa.Column("observed_window_start", sa.DateTime(timezone=True), nullable=True),
        sa.Column("observed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("threshold_fired_window", sa.DateTime(timezone=True), nullable=True),
        sa.Column("exceeded_fired_window", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["applications.id"],
            name=op.f("fk_budgets_application_id_applications"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_budgets_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_budgets")),
    )
    with op.batch_alter_table("budgets", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_budgets_application_id"), ["application_id"], unique=False
        )

    op.create_table(
        "halts",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("application_id", sa.String(length=40), nullable=False),
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column("scope_value", sa.String(length=255), nullable=False),
        sa.Column("end_user_external_id", sa.String(length=255), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=1024), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("budget_id", sa.String(length=40), nullable=True),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("cleared_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cleared_by", sa.String(length=100), nullable=True),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["applications.id"],
            name=op.f("fk_halts_application_id_applications"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_halts_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_halts")),
    )
    with op.batch_alter_table("halts", schema=None) as batch_op:
        batch_op.create_index(
            "ix_halts_application_active", ["application_id", "cleared_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_halts_budget_id"), ["budget_id"], unique=False)

    op.create_table(
        "budget_buckets",
        sa.Column("budget_id", sa.String(length=40), nullable=False),
        sa.Column("bucket_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reserved", sa.Numeric(precision=20, scale=10), nullable=False),
        sa.Column("spent", sa.Numeric(precision=20, scale=10), nullable=False),
        sa.ForeignKeyConstraint(
            ["budget_id"],
            ["budgets.id"],
            name=op.f("fk_budget_buckets_budget_id_budgets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("budget_id", "bucket_start", name=op.f("pk_budget_buckets")),
    )
    op.create_table(
        "budget_reservations",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("budget_id", sa.String(length=40), nullable=False),
        sa.Column("bucket_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("amount", sa.Numeric(precision=20, scale=10), nullable=False),
        sa.Column("run_id", sa.String(length=40), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["budget_id"],
            ["budgets.id"],
            name=op.f("fk_budget_reservations_budget_id_budgets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_budget_reservations")),
    )
    with op.batch_alter_table("budget_reservations", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_budget_reservations_budget_id"), ["budget_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_budget_reservations_expires_at"), ["expires_at"], unique=False
        )


def downgrade() -> None:

    with op.batch_alter_table("budget_reservations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_budget_reservations_expires_at"))
        batch_op.drop_index(batch_op.f("ix_budget_reservations_budget_id"))

    op.drop_table("budget_reservations")
    op.drop_table("budget_buckets")
    with op.batch_alter_table("halts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_halts_budget_id"))
        batch_op.drop_index("ix_halts_application_active")

    op.drop_table("halts")
    with op.batch_alter_table("budgets", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_budgets_application_id"))

    op.drop_table("budgets")
