"""Examples artifacts written straight to disk, for tests of the components that read them."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from headrace.components.artifacts import Examples

PENGUINS = Path(__file__).resolve().parents[1] / "examples" / "penguin" / "data" / "penguins.csv"


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


def penguin_table() -> pa.Table:
    import pyarrow.csv as pacsv

    return pacsv.read_csv(PENGUINS)


def penguin_examples(root: Path) -> Examples:
    """The penguins: train is the first 260 rows (two files); eval the rest, an unseen island and a row of nulls."""
    table = penguin_table()
    train, eval_ = table.slice(0, 260), table.slice(260)
    odd = pa.table(
        {
            "species": ["Adelie", None],
            "island": ["Anvers", None],
            "bill_length_mm": [None, 40.0],
            "bill_depth_mm": [18.0, None],
            "flipper_length_mm": pa.array([190, None], pa.int64()),
            "body_mass_g": pa.array([None, 4000], pa.int64()),
            "sex": [None, "male"],
            "year": pa.array([2009, 2009], pa.int64()),
        }
    ).cast(table.schema)
    return write_examples(
        root, {"train": [train.slice(0, 100), train.slice(100)], "eval": [pa.concat_tables([eval_, odd])]}
    )
