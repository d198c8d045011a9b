"""Artifacts record their file manifest (relative path -> size) when published.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29

A cache hit or a consumer compares the files on disk with it (stat calls
only), so a partly deleted artifact is never reused or read as if whole.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_LONG_TEXT = sa.Text().with_variant(mysql.LONGTEXT(), "mysql", "mariadb")


def upgrade() -> None:
    op.add_column("headrace_artifacts", sa.Column("manifest", _LONG_TEXT))


def downgrade() -> None:
    op.drop_column("headrace_artifacts", "manifest")
