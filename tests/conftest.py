"""Shared fixtures: a fresh metadata store on every backend."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from headrace.metadata.store import MetadataStore
from tests.databases import KINDS, fresh_database


@pytest.fixture(params=KINDS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """URL of an empty database: SQLite in tmp_path, or a new database on the PG/MySQL server."""
    with fresh_database(request.param, tmp_path) as url:
        yield url


@pytest.fixture
def store(store_url: str) -> MetadataStore:
    return MetadataStore(store_url)


@pytest.fixture(scope="session")
def dask_cluster():
    """A local dask.distributed cluster of 2 worker processes, for Beam's DaskRunner (slow to start: one per session)."""
    distributed = pytest.importorskip("dask.distributed")
    cluster = distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1, dashboard_address=":0")
    yield cluster
    cluster.close()
