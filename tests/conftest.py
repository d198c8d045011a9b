"""Shared fixtures: a fresh metadata store on every backend."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from metadata.store import MetadataStore
from tests.databases import KINDS, fresh_database


@pytest.fixture(params=KINDS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """URL of an empty database: SQLite in tmp_path, or a new database on the PG/MySQL server."""
    with fresh_database(request.param, tmp_path) as url:
        yield url


@pytest.fixture
def store(store_url: str) -> MetadataStore:
    return MetadataStore(store_url)
