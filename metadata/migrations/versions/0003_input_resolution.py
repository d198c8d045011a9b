"""Input events say how they were resolved: from this run's wire, or from an earlier run.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29

``headrace_events.resolution`` is NULL for an input wired to an upstream of the
same run and for outputs; otherwise it names the rule that picked an earlier
run's artifact (``latest``, ``latest blessed``, or ``earlier run`` for the
fallback that ``--only`` / ``--from`` allow), so lineage shows that the input
did not come from this run.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("headrace_events", sa.Column("resolution", sa.String(32)))


def downgrade() -> None:
    with op.batch_alter_table("headrace_events") as batch:
        batch.drop_column("resolution")
