"""Ingest throughput and peak memory, in-process vs Beam, on 1M and 5M penguin-like CSV rows.

Each (size, engine) runs in a fresh subprocess so the peak RSS (VmHWM) is that
run's alone (and Beam's import is paid by the Beam run only); a flat peak from
1M to 5M rows shows memory is bounded by block size. The output files of both
engines are hashed: they must be byte-identical. A last line gives the fixed
cost of ingest on the 344-row penguins file (fresh process, imports included).

    .venv/bin/python benchmarks/ingest.py [rows ...] [--parts N]

``--parts N`` also ingests the same rows as N files with the DirectRunner in
multi-processing mode (``direct_num_workers: N``), where Beam reads files in
parallel; the peak RSS column then covers the driver process only.
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
import hashlib, json, logging, pathlib, sys, time
start_process = time.perf_counter()
from headrace.components.artifacts import Examples
from headrace.components.contract import Context
from headrace.components.ingest import Ingest, IngestParameters

source, out, engine, beam_options = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
ctx = Context(component="ingest", inputs={}, outputs={"examples": Examples(uri=out)},
              params=IngestParameters(source=source, engine=engine), beam_options=beam_options,
              log=logging.getLogger("bench"))
start = time.perf_counter()
Ingest().run(ctx)
seconds = time.perf_counter() - start
peak_kb = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:"))
digest = hashlib.sha256()
for path in sorted(pathlib.Path(out).rglob("*")):
    if path.is_file():
        digest.update(str(path.relative_to(out)).encode() + hashlib.sha256(path.read_bytes()).digest())
examples = ctx.outputs["examples"]
print(json.dumps({"seconds": seconds, "peak_mb": peak_kb / 1024, "rows": examples.properties["row_counts"],
                  "engine": examples.properties["engine"], "digest": digest.hexdigest()}))
"""

DIRECT = {"runner": "DirectRunner"}


def run(source: Path, engine: str, beam_options: dict | None = None) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        done = subprocess.run(
            [
                sys.executable,
                "-c",
                _CHILD,
                str(source),
                os.path.join(tmp, "examples"),
                engine,
                json.dumps(beam_options or DIRECT),
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
    if done.returncode:
        raise SystemExit(f"ingest of {source} ({engine}) failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def split_csv(path: Path, parts: int) -> Path:
    """``path`` as ``parts`` CSV files of about equal rows, in a cached directory."""
    directory = path.with_name(f"{path.stem}-{parts}parts")
    if directory.exists():
        return directory
    lines = path.read_bytes().splitlines(keepends=True)
    header, body = lines[0], lines[1:]
    tmp = directory.with_suffix(".tmp")
    tmp.mkdir(parents=True, exist_ok=True)
    size = -(-len(body) // parts)
    for i in range(parts):
        (tmp / f"part-{i:03d}.csv").write_bytes(header + b"".join(body[i * size : (i + 1) * size]))
    tmp.rename(directory)
    return directory


def fixed_cost() -> float:
    """Seconds of one ingest of the 344-row penguins file in a fresh process, imports included."""
    from penguin_data import PENGUINS

    return run(PENGUINS, "in_process")["seconds"]


def main() -> None:
    args = sys.argv[1:]
    parts = 0
    if "--parts" in args:
        at = args.index("--parts")
        parts = int(args[at + 1])
        del args[at : at + 2]
    sizes = [int(a) for a in args] or [1_000_000, 5_000_000]
    from penguin_data import penguin_csv

    print(f"{'rows':>10} {'files':>5} {'engine':<28} {'seconds':>8} {'rows/s':>12} {'MB/s':>8} {'peak RSS MB':>12}")
    for rows in sizes:
        path = penguin_csv(rows)
        mb = path.stat().st_size / 1e6
        variants = [("in_process", path, "in_process", None), ("beam DirectRunner", path, "beam", None)]
        if parts:
            options = {"runner": "DirectRunner", "direct_num_workers": parts, "direct_running_mode": "multi_processing"}
            variants += [
                ("in_process", split_csv(path, parts), "in_process", None),
                (f"beam DirectRunner x{parts} procs", split_csv(path, parts), "beam", options),
            ]
        digests = {}
        for label, source, engine, options in variants:
            r = run(source, engine, options)
            total = sum(r["rows"].values())
            assert total == rows, (total, rows)
            assert r["engine"] == engine
            digests.setdefault(source, set()).add(r["digest"])
            files = len(list(source.iterdir())) if source.is_dir() else 1
            print(
                f"{rows:>10,} {files:>5} {label:<28} {r['seconds']:>8.2f} {rows / r['seconds']:>12,.0f} "
                f"{mb / r['seconds']:>8.1f} {r['peak_mb']:>12.0f}",
                flush=True,
            )
        assert all(len(d) == 1 for d in digests.values()), "the engines wrote different bytes"
    print(f"fixed cost, 344 penguins in-process (fresh process, imports included): {fixed_cost():.3f}s")


if __name__ == "__main__":
    main()
