"""Database engines for the metadata store: one per URL per process, tuned per backend.

SQLite gets WAL and ``BEGIN IMMEDIATE`` writes so that several processes can
share one file; the servers run at READ COMMITTED with deadlocks retried by
the store (``is_retryable``).

This module only connects: it knows nothing of the schema, so the migrations
(which need an engine) and the store (which needs both) sit above it.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event

_ENGINES: dict[tuple[int, str], sa.Engine] = {}
_ENGINES_LOCK = threading.Lock()


def normalize_url(url: str) -> str:
    """Map the URLs people type to the drivers headrace ships with.

    A bare path means a SQLite file; ``mysql://`` means PyMySQL with utf8mb4;
    ``postgresql://`` (or ``postgres://``) means psycopg2, which SQLAlchemy 2.1
    no longer picks by default.
    """
    if "://" not in url:
        return f"sqlite:///{Path(url).expanduser().resolve()}"
    scheme, rest = url.split("://", 1)
    scheme = {
        "postgres": "postgresql+psycopg2",
        "postgresql": "postgresql+psycopg2",
        "mysql": "mysql+pymysql",
        "mariadb": "mysql+pymysql",
        "mariadb+pymysql": "mysql+pymysql",
    }.get(scheme, scheme)
    url = f"{scheme}://{rest}"
    if scheme.startswith("mysql") and "charset=" not in rest:
        url += ("&" if "?" in rest else "?") + "charset=utf8mb4"
    return url


def engine_for(url: str) -> sa.Engine:
    """One Engine per URL per process (a forked child builds its own)."""
    url = normalize_url(url)
    key = (os.getpid(), url)
    engine = _ENGINES.get(key)
    if engine is None:
        with _ENGINES_LOCK:
            engine = _ENGINES.get(key)
            if engine is None:
                engine = _ENGINES[key] = _create_engine(url)
    return engine


def dispose_engines() -> None:
    """Close every pooled connection of this process (e.g. before dropping a test DB)."""
    with _ENGINES_LOCK:
        for engine in _ENGINES.values():
            engine.dispose()
        _ENGINES.clear()


def _create_engine(url: str) -> sa.Engine:
    parsed = sa.make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(parsed)
    options: dict[str, Any] = {"pool_pre_ping": True, "isolation_level": "READ COMMITTED"}
    if parsed.get_backend_name() in ("mysql", "mariadb"):
        options["pool_recycle"] = 3600  # servers drop idle connections after wait_timeout
        options["connect_args"] = {"connect_timeout": 30}
    else:
        options["connect_args"] = {"connect_timeout": 30}
    return sa.create_engine(parsed, **options)


def _sqlite_engine(url: sa.URL) -> sa.Engine:
    """SQLite tuned for several writer processes on one file.

    pysqlite's own transaction handling is switched off (``isolation_level =
    None``) so that the "begin" hook decides how a transaction starts: writes
    use BEGIN IMMEDIATE, reads (``execution_options(sqlite_begin="DEFERRED")``)
    a plain BEGIN that does not block writers under WAL.
    """
    if url.database and url.database != ":memory:":
        Path(url.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(url, connect_args={"timeout": 30})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA busy_timeout = 30000")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "IMMEDIATE")
        conn.exec_driver_sql(f"BEGIN {mode}")

    return engine


def is_retryable(error: sa.exc.DBAPIError) -> bool:
    """Deadlocks and lock timeouts: the transaction did nothing and can run again."""
    code = getattr(error.orig, "args", [None])[0]
    if code in (1205, 1213):  # MySQL lock wait timeout, deadlock
        return True
    if getattr(error.orig, "pgcode", None) in ("40001", "40P01"):
        return True
    return "database is locked" in str(error.orig)
