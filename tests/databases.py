"""Throwaway metadata databases on every backend the store supports.

``fresh_database(kind)`` yields the URL of an empty database: a SQLite file,
or a uniquely named database created on the PostgreSQL / MariaDB server named
by HEADRACE_TEST_PG_URL / HEADRACE_TEST_MYSQL_URL and dropped afterwards.
Without that variable the test is skipped with a reason saying how to run it.
Shared by the store tests and the concurrent-runner tests.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa

from headrace.metadata.store import dispose_engines, normalize_url

KINDS = ("sqlite", "postgresql", "mysql")
_ENV = {"postgresql": "HEADRACE_TEST_PG_URL", "mysql": "HEADRACE_TEST_MYSQL_URL"}
_SERVER = {"postgresql": "PostgreSQL", "mysql": "MySQL/MariaDB"}


def server_url(kind: str) -> str:
    """The admin URL of a server backend, or skip the calling test."""
    variable = _ENV[kind]
    url = os.environ.get(variable)
    if not url:
        pytest.skip(f"{variable} not set: start {_SERVER[kind]} and export it to run the store tests against it")
    return normalize_url(url)


@contextmanager
def fresh_database(kind: str, directory: Path | None = None) -> Iterator[str]:
    """Yield the URL of a brand-new, empty database of ``kind``; remove it afterwards."""
    if kind not in KINDS:
        raise ValueError(f"database kind must be one of {list(KINDS)}, not {kind!r}")
    if kind == "sqlite":
        own = directory is None
        folder = Path(tempfile.mkdtemp(prefix="headrace-db-")) if own else Path(directory)
        try:
            yield f"sqlite:///{folder / 'metadata.db'}"
        finally:
            dispose_engines()
            if own:
                shutil.rmtree(folder, ignore_errors=True)
        return

    admin_url = sa.make_url(server_url(kind))
    name = f"headrace_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    try:
        with admin.connect() as conn:
            if kind == "mysql":
                conn.exec_driver_sql(f"CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
            else:
                conn.exec_driver_sql(f"CREATE DATABASE {name}")
        try:
            yield admin_url.set(database=name).render_as_string(hide_password=False)
        finally:
            dispose_engines()
            with admin.connect() as conn:
                if kind == "postgresql":
                    conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
                else:
                    conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name}")
    finally:
        admin.dispose()


def publish(store, execution_id: int, outputs: dict) -> dict:
    """Publish outputs at given URIs as the runner does: reserve the rows, then complete the execution with them live."""
    from dataclasses import replace

    specs = {name: {k: v for k, v in spec.items() if k != "uri"} for name, spec in outputs.items()}
    reserved = store.reserve_outputs(execution_id, specs, lambda name, _id: outputs[name]["uri"])
    store.finish_execution(execution_id, "complete", publish=[a.id for a in reserved.values()])
    return {name: replace(a, state="live") for name, a in reserved.items()}
