"""Schema versioning for the metadata store: alembic, configured in code.

Opening a store must cost one cheap query, not an alembic import (a cached
component has a budget of a few milliseconds), so the revisions this code
knows are listed here as constants and alembic is imported only when a
database is new or behind. A test checks the constants against
``versions/``.
"""

from __future__ import annotations

import weakref
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa

from headrace.metadata.engines import engine_for
from headrace.metadata.tables import VERSION_TABLE

if TYPE_CHECKING:
    from alembic.config import Config

REVISIONS: tuple[str, ...] = ("0001", "0002", "0003")  # oldest first
HEAD_REVISION = REVISIONS[-1]

_PG_LOCK_KEY = 0x6865616472616365  # "headrace": serialises migrations across pods
_MYSQL_LOCK_NAME = "headrace_migrations"


class SchemaTooNewError(RuntimeError):
    """The database was migrated by a newer headrace than the one running."""


def _display(url: sa.URL | str) -> str:
    return sa.make_url(url).render_as_string(hide_password=True)


def current_revision(engine: sa.Engine) -> str | None:
    """The database's schema revision, or None for a database without one."""
    try:
        with engine.connect() as conn:
            conn = conn.execution_options(sqlite_begin="DEFERRED")
            return conn.execute(sa.text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar()
    except (sa.exc.ProgrammingError, sa.exc.OperationalError):
        return None  # no version table yet; a real connection error resurfaces in upgrade


_CHECKED: weakref.WeakSet[sa.Engine] = weakref.WeakSet()
"""Engines whose database this process has already brought to HEAD_REVISION.

Keyed by the engine object: ``engines.engine_for`` gives one per URL per
process, and ``dispose_engines`` (or a fork) makes a new one, checked again.
"""


def ensure_schema_once(url: str, engine: sa.Engine) -> None:
    """Create or upgrade the schema of ``url`` (opened as ``engine``) the first time this process uses it."""
    if engine not in _CHECKED:
        ensure_schema(engine)
        _CHECKED.add(engine)


def ensure_schema(engine: sa.Engine) -> None:
    """Migrate the database to HEAD_REVISION if it is new or behind; refuse if ahead."""
    revision = current_revision(engine)
    if revision == HEAD_REVISION:
        return
    _refuse_unknown(revision, engine.url)
    _upgrade_engine(engine)
    revision = current_revision(engine)
    if revision != HEAD_REVISION:
        _refuse_unknown(revision, engine.url)
        raise RuntimeError(
            f"metadata store at {_display(engine.url)} is at schema revision {revision!r} "
            f"after upgrading; expected {HEAD_REVISION!r}"
        )


def _refuse_unknown(revision: str | None, url: sa.URL) -> None:
    if revision is not None and revision not in REVISIONS:
        raise SchemaTooNewError(
            f"metadata store at {_display(url)} is at schema revision {revision}, "
            f"this headrace knows up to {HEAD_REVISION}: upgrade headrace "
            f"(pip install -U headrace) to use this store"
        )


def alembic_config(connection: sa.Connection | None = None, url: str | None = None) -> Config:
    """An alembic Config for this package, without any alembic.ini.

    Developers write a new revision with
    ``alembic.command.revision(alembic_config(url=...), "message", autogenerate=True)``.
    """
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(Path(__file__).parent))
    if url is not None:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def upgrade(url: str) -> None:
    """Create or migrate the metadata store at ``url`` to the newest schema."""
    engine = engine_for(url)
    _refuse_unknown(current_revision(engine), engine.url)
    _upgrade_engine(engine)


def _upgrade_engine(engine: sa.Engine) -> None:
    """Run ``alembic upgrade head`` under a lock that other processes respect.

    Several processes (pods, or two CLI commands) may open a brand-new store at
    the same moment. Each takes a lock first; alembic reads the current
    revision only after it holds the lock, so the later ones find the schema
    already there and do nothing.
    """
    from alembic import command

    dialect = engine.dialect.name
    with engine.connect() as conn:
        conn.begin()  # SQLite: BEGIN IMMEDIATE, i.e. the database write lock
        if dialect == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_KEY})
        elif dialect in ("mysql", "mariadb"):
            got = conn.execute(sa.text("SELECT GET_LOCK(:n, 120)"), {"n": _MYSQL_LOCK_NAME}).scalar()
            if got != 1:
                raise RuntimeError(
                    f"could not take the migration lock {_MYSQL_LOCK_NAME!r} on "
                    f"{_display(engine.url)} within 120 s: another process is migrating it"
                )
        try:
            command.upgrade(alembic_config(conn), "head")
            conn.commit()
        finally:
            if dialect in ("mysql", "mariadb"):
                conn.execute(sa.text("SELECT RELEASE_LOCK(:n)"), {"n": _MYSQL_LOCK_NAME})
                conn.commit()
