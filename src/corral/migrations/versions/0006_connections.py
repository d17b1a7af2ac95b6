"""connections: credentials encrypted at rest, per application or end-user

Revision ID: 0006_connections
Revises: 0005_agents
Create Date: 2026-12-02 02:32:10.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_connections"
down_revision = "0005_agents"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "connections",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("application_id", sa.String(length=40), nullable=False),
        sa.Column("end_user_id", sa.String(length=40), nullable=True),
        sa.Column("owner_key", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("description", sa.String(length=2000), nullable=False),
        sa.Column("auth_type", sa.String(length=16), nullable=False),
        sa.Column("auth_params", sa.JSON(), nullable=False),
        sa.Column("secret_ciphertext", sa.Text(), nullable=False),
        sa.Column("authorized_uris", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["applications.id"],
            name=op.f("fk_connections_application_id_applications"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["end_user_id"],
            ["end_users.id"],
            name=op.f("fk_connections_end_user_id_end_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_connections_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_connections")),
        sa.UniqueConstraint(
            "application_id",
            "owner_key",
            "name",
            name=op.f("uq_connections_application_id_owner_key_name"),
        ),
    )


def downgrade() -> None:
    op.drop_table("connections")
