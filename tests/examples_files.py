"""Examples artifacts written straight to disk, for tests of the components that read them."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from headrace.components.artifacts import Examples


def write_examples(root: Path, splits: dict[str, list[pa.Table]]) -> Examples:
    """Examples as ingest lays them out: one Parquet file per table under Split-<name>/."""
    for split, tables in splits.items():
        directory = root / f"Split-{split}"
        directory.mkdir(parents=True)
        for i, table in enumerate(tables):
            pq.write_table(table, directory / f"part-{i:05d}.parquet")
    schema = next(t for ts in splits.values() for t in ts).schema
    return Examples(
        uri=str(root),
        properties={
            "splits": list(splits),
            "schema": [{"name": f.name, "type": str(f.type), "nullable": True} for f in schema],
        },
    )
