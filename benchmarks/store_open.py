"""Opening an existing metadata store in a fresh process, as every CLI command and Kubeflow pod does.

For each store (SQLite always; PostgreSQL and MariaDB/MySQL when
HEADRACE_TEST_PG_URL / HEADRACE_TEST_MYSQL_URL name a server; a scratch
database is created there and dropped, as the tests do), prints the
seconds ``MetadataStore(url)`` takes on a store that is already at the newest
schema (one version query, alembic never imported) and the first ``list_runs``.

    .venv/bin/python benchmarks/store_open.py
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

_OPEN = (
    "import json, sys, time\n"
    "t = time.perf_counter()\n"
    "from headrace.metadata.store import MetadataStore\n"
    "imported = time.perf_counter() - t\n"
    "t = time.perf_counter(); s = MetadataStore(sys.argv[1]); opened = time.perf_counter() - t\n"
    "t = time.perf_counter(); s.list_runs(); listed = time.perf_counter() - t\n"
    "print(json.dumps({'import_s': imported, 'open_s': opened, 'list_s': listed,"
    " 'alembic': 'alembic' in sys.modules}))\n"
)


def measure(url: str, repeats: int = 5) -> None:
    from headrace.metadata.store import MetadataStore, dispose_engines

    MetadataStore(url)  # create or migrate once, so the timed opens find the newest schema
    dispose_engines()
    figures = [
        json.loads(subprocess.check_output([sys.executable, "-c", _OPEN, url], text=True)) for _ in range(repeats)
    ]
    best = {key: min(f[key] for f in figures) for key in ("import_s", "open_s", "list_s")}
    label = url.split("://", 1)[0]
    print(
        f"{label:24s} import {best['import_s'] * 1000:7.1f} ms   open {best['open_s'] * 1000:7.1f} ms   "
        f"list_runs {best['list_s'] * 1000:7.1f} ms   alembic imported: {any(f['alembic'] for f in figures)}"
    )


def main() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.databases import fresh_database

    with tempfile.TemporaryDirectory(prefix="headrace-store-open-") as folder:
        measure(f"sqlite:///{folder}/metadata.db")
    for kind, variable in (("postgresql", "HEADRACE_TEST_PG_URL"), ("mysql", "HEADRACE_TEST_MYSQL_URL")):
        if os.environ.get(variable):
            with fresh_database(kind) as url:
                measure(url)


if __name__ == "__main__":
    main()
