"""Penguin-like CSV of any size, for benchmarks.

Rows are sampled (with a fixed seed) from the Palmer penguins file and their
measurements jittered with Gaussian noise, so the data has the real mix of
strings, numbers and ``NA`` at realistic proportions. Files are cached under
``benchmarks/.data/`` (git-ignored) and regenerated only when missing.

    python benchmarks/penguin_data.py 1000000    # prints the file's path
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

PENGUINS = Path(os.environ.get("HEADRACE_PENGUINS", "/work/shared/data/penguins/penguins.csv"))
if not PENGUINS.exists():
    PENGUINS = Path(__file__).resolve().parents[1] / "examples" / "penguin" / "data" / "penguins.csv"
DATA_DIR = Path(__file__).resolve().parent / ".data"

# column -> (noise standard deviation, decimals); other columns are copied as sampled
_NOISE = {
    "bill_length_mm": (1.5, 1),
    "bill_depth_mm": (0.6, 1),
    "flipper_length_mm": (4.0, 0),
    "body_mass_g": (150.0, 0),
}
_CHUNK_ROWS = 500_000


def penguin_csv(rows: int, seed: int = 0) -> Path:
    """The path of a cached CSV with ``rows`` penguin-like rows (written if missing)."""
    path = DATA_DIR / f"penguins-{rows}-seed{seed}.csv"
    if path.exists():
        return path
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as csv

    source = csv.read_csv(PENGUINS, convert_options=csv.ConvertOptions(strings_can_be_null=True))
    rng = np.random.default_rng(seed)
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    header = ",".join(source.column_names) + "\n"
    with open(tmp, "wb") as out:
        out.write(header.encode())
        written = 0
        while written < rows:
            n = min(_CHUNK_ROWS, rows - written)
            sample = source.take(pa.array(rng.integers(0, source.num_rows, n)))
            columns = []
            for name in sample.column_names:
                column = sample.column(name)
                if name in _NOISE:
                    sd, decimals = _NOISE[name]
                    values = pc.add(pc.cast(column, pa.float64()), pa.array(rng.normal(0.0, sd, n)))
                    values = pc.round(values, decimals)
                    if decimals == 0:
                        values = pc.cast(values, pa.int64())
                    column = values
                columns.append(pc.fill_null(pc.cast(column, pa.string()), "NA"))
            chunk = pa.table(columns, names=sample.column_names)
            csv.write_csv(chunk, out, write_options=csv.WriteOptions(include_header=False, quoting_style="none"))
            written += n
    tmp.rename(path)
    return path


if __name__ == "__main__":
    print(penguin_csv(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000))
