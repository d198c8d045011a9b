"""Ingest throughput and peak memory on 1M and 5M penguin-like CSV rows.

Each size runs in a fresh subprocess so the peak RSS (VmHWM) is that run's
alone; a flat peak from 1M to 5M rows shows memory is bounded by block size.

    .venv/bin/python benchmarks/ingest.py [rows ...]
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]

_CHILD = r"""
import json, logging, sys, time
from components.artifacts import Examples
from components.contract import Context
from components.ingest import Ingest, IngestParameters

source, out = sys.argv[1], sys.argv[2]
ctx = Context(component="ingest", inputs={}, outputs={"examples": Examples(uri=out)},
              params=IngestParameters(source=source), log=logging.getLogger("bench"))
start = time.perf_counter()
Ingest().run(ctx)
seconds = time.perf_counter() - start
peak_kb = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:"))
print(json.dumps({"seconds": seconds, "peak_mb": peak_kb / 1024, "rows": ctx.outputs["examples"].properties["row_counts"]}))
"""


def run(rows: int) -> dict:
    from penguin_data import penguin_csv

    path = penguin_csv(rows)
    with tempfile.TemporaryDirectory() as tmp:
        done = subprocess.run(
            [sys.executable, "-c", _CHILD, str(path), os.path.join(tmp, "examples")],
            cwd=ROOT, capture_output=True, text=True, check=True,
        )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["mb"] = path.stat().st_size / 1e6
    return result


def main() -> None:
    sizes = [int(a) for a in sys.argv[1:]] or [1_000_000, 5_000_000]
    print(f"{'rows':>10} {'seconds':>8} {'rows/s':>12} {'MB/s':>8} {'peak RSS MB':>12}")
    for rows in sizes:
        r = run(rows)
        total = sum(r["rows"].values())
        assert total == rows, (total, rows)
        print(f"{rows:>10,} {r['seconds']:>8.2f} {rows / r['seconds']:>12,.0f} "
              f"{r['mb'] / r['seconds']:>8.1f} {r['peak_mb']:>12.0f}")


if __name__ == "__main__":
    main()
