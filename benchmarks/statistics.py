"""Statistics throughput, peak memory and fixed cost, against pure pyarrow.

For each size (default 1M and 5M penguin-like rows, made once with the real
ingest component and cached under ``benchmarks/.data/``) three computations
run, each in a fresh subprocess so its peak RSS (VmHWM) is its own:

- ``in_process``: the statistics component with engine=in_process,
- ``beam``: the same component with engine=beam on the DirectRunner,
- ``pyarrow``: the same figures in a single process with plain pyarrow
  (min_max, mean, stddev, zeros, NaN, value_counts, tdigest quantiles,
  utf8 lengths), one split table at a time: the throughput to aim at.

Then the fixed cost of the component on the 344-row penguins data (auto
engine, which is in_process there).

    .venv/bin/python benchmarks/statistics.py [rows ...]
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]

_PEAK = 'next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:")) / 1024'

_COMPONENT = r"""
import json, logging, sys, time
from headrace.components.artifacts import Examples, Statistics
from headrace.components.contract import Context
start_imports = time.perf_counter()
from headrace.components.validator.statistics_component import StatisticsComponent, StatisticsParameters
examples = Examples(**json.loads(sys.argv[1]))
engine, out = sys.argv[2], sys.argv[3]
ctx = Context(component="statistics", inputs={"examples": examples}, outputs={"statistics": Statistics(uri=out)},
              params=StatisticsParameters(engine=engine), beam_options={"runner": "DirectRunner"},
              log=logging.getLogger("bench"))
start = time.perf_counter()
StatisticsComponent().run(ctx)
seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "with_imports": time.perf_counter() - start_imports,
                  "engine": ctx.outputs["statistics"].properties["engine"], "peak_mb": PEAK}))
""".replace("PEAK", _PEAK)

_PYARROW = r"""
import json, sys, time
import numpy as np, pyarrow as pa, pyarrow.compute as pc, pyarrow.dataset as ds
examples = json.loads(sys.argv[1])
start = time.perf_counter()
figures = {}
for split in examples["properties"]["splits"]:
    table = ds.dataset(f"{examples['uri']}/Split-{split}", format="parquet").to_table()
    for name in table.column_names:
        column = table.column(name)
        f = {"count": len(column) - column.null_count, "missing": column.null_count}
        if pa.types.is_integer(column.type) or pa.types.is_floating(column.type):
            values = pc.cast(column, pa.float64())
            f["nan"] = pc.sum(pc.is_nan(values)).as_py()
            values = pc.drop_null(pc.if_else(pc.is_nan(values), None, values))
            f.update(pc.min_max(values).as_py())
            f["mean"] = pc.mean(values).as_py()
            f["std"] = pc.stddev(values).as_py()
            f["zeros"] = pc.sum(pc.equal(values, 0)).as_py()
            f["quantiles"] = pc.tdigest(values, q=np.linspace(0, 1, 11)).to_pylist()
            f["histogram"] = np.histogram(values.to_numpy(), bins=10)[0].tolist()
        else:
            counts = pc.value_counts(column.drop_null())
            f["distinct"] = len(counts)
            f["top"] = counts.take(pc.select_k_unstable(pa.table({"c": counts.field("counts")}), 20, [("c", "descending")])).to_pylist()
            f["avg_length"] = pc.mean(pc.utf8_length(column)).as_py()
        figures[f"{split}.{name}"] = f
    del table
seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "peak_mb": PEAK}))
""".replace("PEAK", _PEAK)


def examples_for(rows: int) -> dict:
    """Examples of ``rows`` penguin-like rows, made once by the real ingest component."""
    from penguin_data import DATA_DIR, penguin_csv

    target = DATA_DIR / f"examples-{rows}"
    marker = target / "_artifact.json"
    if marker.exists():
        return json.loads(marker.read_text())
    from headrace.components.artifacts import Examples
    from headrace.components.contract import Context
    from headrace.components.ingest import Ingest, IngestParameters

    source = penguin_csv(rows) if rows != 344 else Path(__import__("penguin_data").PENGUINS)
    ctx = Context(
        component="ingest",
        inputs={},
        outputs={"examples": Examples(uri=str(target))},
        params=IngestParameters(source=str(source)),
        log=logging.getLogger("bench"),
    )
    Ingest().run(ctx)
    artifact = {"uri": str(target), "properties": ctx.outputs["examples"].properties}
    marker.write_text(json.dumps(artifact))
    return artifact


def child(code: str, *args: str) -> dict:
    done = subprocess.run([sys.executable, "-c", code, *args], cwd=ROOT, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(done.stderr[-3000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure(rows: int, what: str) -> dict:
    artifact = json.dumps(examples_for(rows))
    if what == "pyarrow":
        return child(_PYARROW, artifact)
    with tempfile.TemporaryDirectory() as tmp:
        return child(_COMPONENT, artifact, what, f"{tmp}/statistics")


def main() -> None:
    sizes = [int(a) for a in sys.argv[1:]] or [1_000_000, 5_000_000]
    print(f"{'rows':>10} {'engine':>10} {'seconds':>8} {'rows/s':>12} {'vs pyarrow':>10} {'peak RSS MB':>12}")
    for rows in sizes:
        results = {what: measure(rows, what) for what in ("pyarrow", "in_process", "beam")}
        base = rows / results["pyarrow"]["seconds"]
        for what, r in results.items():
            rate = rows / r["seconds"]
            print(
                f"{rows:>10,} {what:>10} {r['seconds']:>8.2f} {rate:>12,.0f} {rate / base:>10.2f} {r['peak_mb']:>12.0f}"
            )
    fixed = [measure(344, "auto") for _ in range(3)]
    best = min(fixed, key=lambda r: r["seconds"])
    print(
        f"fixed cost on 344 penguins rows (engine={best['engine']}): run() {best['seconds']:.3f}s, "
        f"with the component's imports {best['with_imports']:.3f}s, peak RSS {best['peak_mb']:.0f} MB"
    )


if __name__ == "__main__":
    main()
