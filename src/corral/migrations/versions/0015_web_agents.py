"""runs by agent: an index for an agent's runs, newest first

Revision ID: 0015_web_agents
Revises: 0014_web_policies
Create Date: 2026-12-02 12:40:00.000000
"""

from __future__ import annotations

from alembic import op

revision = "0015_web_agents"
down_revision = "0014_web_policies"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_runs_agent_id", "runs", ["agent_id", "id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_runs_agent_id", table_name="runs")
