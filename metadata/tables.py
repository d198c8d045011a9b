"""The metadata store's tables, as SQLAlchemy Core objects.

The same definitions must work on SQLite, PostgreSQL and MySQL/MariaDB
(utf8mb4), which fixes a few choices:

- JSON is stored as text (``json.dumps(..., sort_keys=True)``) so every
  backend stores and compares it the same way; MySQL gets LONGTEXT because a
  pipeline spec or a traceback can outgrow TEXT's 64 KiB.
- Indexed strings are at most VARCHAR(255): InnoDB keys are limited to 3072
  bytes, i.e. 768 utf8mb4 characters. URIs can be longer, so they are stored
  as text and looked up through ``uri_hash`` (sha256 hex of the URI).
- Timestamps are stored as naive UTC (MySQL DATETIME has no zone; fsp=6 keeps
  microseconds so "newest first" is stable) and are returned as aware UTC
  datetimes.
- Table names carry a ``headrace_`` prefix and alembic uses its own version
  table, because Kubeflow users often point MLflow and headrace at the same
  server database and MLflow already owns ``runs`` and ``alembic_version``.

The migrations in ``migrations/versions/`` (0001 creates the tables, later
revisions change them) produce exactly these tables; a test compares the two.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql

VERSION_TABLE = "headrace_alembic_version"

LongText = sa.Text().with_variant(mysql.LONGTEXT(), "mysql", "mariadb")


class JSONText(sa.types.TypeDecorator[Any]):
    """JSON as sorted-key text: portable, and equal values store equal bytes."""

    impl = sa.Text
    cache_ok = True

    def load_dialect_impl(self, dialect: sa.Dialect) -> sa.types.TypeEngine[Any]:
        if dialect.name in ("mysql", "mariadb"):
            return dialect.type_descriptor(mysql.LONGTEXT())
        return dialect.type_descriptor(sa.Text())

    def process_bind_param(self, value: Any, dialect: sa.Dialect) -> str | None:
        return None if value is None else json.dumps(value, sort_keys=True)

    def process_result_value(self, value: str | None, dialect: sa.Dialect) -> Any:
        return None if value is None else json.loads(value)


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """Naive UTC in the database, aware UTC in Python, on every backend."""

    impl = sa.DateTime
    cache_ok = True

    def load_dialect_impl(self, dialect: sa.Dialect) -> sa.types.TypeEngine[Any]:
        if dialect.name in ("mysql", "mariadb"):
            return dialect.type_descriptor(mysql.DATETIME(fsp=6))
        return dialect.type_descriptor(sa.DateTime())

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


metadata = sa.MetaData()

runs = sa.Table(
    "headrace_runs",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("pipeline", sa.String(255), nullable=False),
    sa.Column("state", sa.String(32), nullable=False),
    sa.Column("started_at", UTCDateTime(), nullable=False),
    sa.Column("ended_at", UTCDateTime()),
    sa.Column("pipeline_file", sa.Text()),
    sa.Column("root", sa.Text()),
    sa.Column("spec", JSONText()),
    sa.Column("host", sa.String(255)),
    sa.Column("pid", sa.Integer()),
    sa.Index("ix_headrace_runs_pipeline_started", "pipeline", "started_at"),
)

executions = sa.Table(
    "headrace_executions",
    metadata,
    sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.String(64), sa.ForeignKey("headrace_runs.id"), nullable=False),
    sa.Column("component", sa.String(255), nullable=False),
    sa.Column("component_type", sa.String(255), nullable=False),
    sa.Column("component_version", sa.String(255), nullable=False),
    sa.Column("state", sa.String(32), nullable=False),
    sa.Column("parameters", JSONText()),
    sa.Column("cache_key", sa.String(128)),
    sa.Column("cache_inputs", JSONText()),
    sa.Column("reason", sa.Text()),
    sa.Column("cached_from", sa.Integer(), sa.ForeignKey("headrace_executions.id")),
    sa.Column("started_at", UTCDateTime()),
    sa.Column("ended_at", UTCDateTime()),
    sa.Column("error", LongText),
    sa.Column("log_uri", sa.Text()),
    sa.Column("metrics", JSONText()),
    sa.Index("ix_headrace_executions_run_id", "run_id"),
    sa.Index("ix_headrace_executions_cache_key", "cache_key"),
    sa.Index("ix_headrace_executions_component", "component"),
)

artifacts = sa.Table(
    "headrace_artifacts",
    metadata,
    sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
    sa.Column("type", sa.String(255), nullable=False),
    sa.Column("uri", sa.Text(), nullable=False),
    sa.Column("uri_hash", sa.String(64), nullable=False),
    sa.Column("state", sa.String(32), nullable=False),
    sa.Column("properties", JSONText()),
    sa.Column("fingerprint", sa.String(255)),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("manifest", JSONText()),  # relative file path -> size in bytes, as published
    sa.Index("ix_headrace_artifacts_type", "type"),
    sa.Index("ix_headrace_artifacts_uri_hash", "uri_hash"),
)

events = sa.Table(
    "headrace_events",
    metadata,
    sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
    sa.Column("execution_id", sa.Integer(), sa.ForeignKey("headrace_executions.id"), nullable=False),
    sa.Column("artifact_id", sa.Integer(), sa.ForeignKey("headrace_artifacts.id"), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("resolution", sa.String(32)),  # how an input from an earlier run was chosen (NULL: this run's wire)
    sa.UniqueConstraint("execution_id", "kind", "name", "artifact_id", name="uq_headrace_events"),
    sa.Index("ix_headrace_events_artifact", "artifact_id", "kind"),
)

content_fingerprints = sa.Table(
    "headrace_content_fingerprints",
    metadata,
    sa.Column("uri_hash", sa.String(64), primary_key=True),
    sa.Column("uri", sa.Text(), nullable=False),
    sa.Column("size", sa.BigInteger(), nullable=False),
    sa.Column("mtime_ns", sa.BigInteger(), nullable=False),
    sa.Column("fingerprint", sa.String(255), nullable=False),
)
