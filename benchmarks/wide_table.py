"""A wide table: statistics and the statistics page of 10,000 columns (9,000 numeric, 1,000 string).

Prints the seconds each step takes; the unit tests check the results, not the
speed (they run on loaded CI machines). Figures when this was written, on 2
shared, busy cores: statistics 6.7 s, the page 1.4 s (4.3 MB).

    .venv/bin/python benchmarks/wide_table.py [columns]
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path


def main(columns: int = 10_000, rows: int = 300) -> None:
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    from headrace.components.artifacts import Examples
    from headrace.components.validator.combiners import StatisticsOptions
    from headrace.components.validator.reports import render_statistics_html
    from headrace.components.validator.statistics_pipeline import compute_statistics

    rng = np.random.default_rng(11)
    strings = columns // 10
    data = {f"f{i}": rng.normal(size=rows) for i in range(columns - strings)}
    data.update({f"s{i}": pa.array(rng.choice(["a", "b", "c"], rows).tolist()) for i in range(strings)})
    table = pa.table(data)
    with tempfile.TemporaryDirectory(prefix="headrace-wide-") as folder:
        split = Path(folder, "Split-train")
        split.mkdir()
        pq.write_table(table, split / "part-00000.parquet")
        examples = Examples(
            uri=folder,
            properties={
                "splits": ["train"],
                "schema": [{"name": f.name, "type": str(f.type), "nullable": True} for f in table.schema],
            },
        )
        started = time.perf_counter()
        stats, engine = compute_statistics(examples, StatisticsOptions(), engine="in_process")
        seconds = time.perf_counter() - started
        print(f"statistics of {columns:,} columns x {rows} rows ({engine}): {seconds:6.2f} s")
        started = time.perf_counter()
        page = render_statistics_html(stats)
        seconds = time.perf_counter() - started
        print(f"statistics page of {columns:,} columns: {seconds:6.2f} s, {len(page.encode()):,} bytes")


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:2]))
