"""What mirroring to MLflow costs a run: the penguin pipeline cold, with and without ``mlflow:``.

Each round copies the example into a fresh folder (no cache, no metadata
store, no tracking store) and runs it through the real CLI, once as written
and once with ``mlflow: {}`` (an embedded SQLite tracking store under the
root, created by the mirror). Rounds alternate the two so drift on a shared
machine hits both alike. The wall time is the CLI's, start to exit: what a
user waits for. The mirror finishes in the background; the time until its
outcome is recorded is reported too, and each round waits for it before the
next starts.

Target (issue 13): mirroring adds at most 10% to the cold wall time.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
EXAMPLE = os.path.join(os.path.dirname(HERE), "examples", "penguin")
HEADRACE = os.path.join(os.path.dirname(sys.executable), "headrace")
ROUNDS = int(os.environ.get("ROUNDS", "5"))


def cold_run(mirror: bool) -> tuple[float, float | None]:
    """One cold run: the CLI's wall time, and (with the mirror) the seconds until the mirror recorded its outcome."""
    folder = tempfile.mkdtemp(prefix="headrace-mirror-bench-")
    try:
        project = os.path.join(folder, "penguin")
        shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns("runs"))
        pipeline = os.path.join(project, "pipeline.yaml")
        if mirror:
            with open(pipeline, "a") as f:
                f.write("mlflow: {}\n")
        started = time.perf_counter()
        subprocess.run([HEADRACE, "run", pipeline, "-q"], check=True, capture_output=True)
        wall = time.perf_counter() - started
        if not mirror:
            return wall, None
        runs = os.path.join(project, "runs", "penguin", "runs")
        (run_id,) = os.listdir(runs)
        status = os.path.join(runs, run_id, "mlflow.json")
        while True:
            if os.path.exists(status):
                with open(status) as f:
                    state = json.load(f)["state"]
                if state != "running":
                    if state != "mirrored":
                        raise RuntimeError(f"the mirror failed: {state}")
                    return wall, time.perf_counter() - started
            if time.perf_counter() - started > 120:
                raise RuntimeError("the mirror did not finish in 120 s")
            time.sleep(0.05)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _median(values: list[float]) -> float:
    """(benchmarks/statistics.py shadows the standard library's module here.)"""
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def main() -> None:
    cold_run(False)  # warm the OS file cache and Python's bytecode for both
    cold_run(True)
    plain: list[float] = []
    mirrored: list[float] = []
    done: list[float] = []
    for _ in range(ROUNDS):
        plain.append(cold_run(False)[0])
        wall, finished = cold_run(True)
        mirrored.append(wall)
        done.append(finished or 0.0)
    base, with_mirror = _median(plain), _median(mirrored)
    print(f"penguin cold run, median of {ROUNDS} (alternating):")
    print(f"  without mirroring: {base:.2f} s   (runs: {', '.join(f'{t:.2f}' for t in plain)})")
    print(f"  with mirroring:    {with_mirror:.2f} s   (runs: {', '.join(f'{t:.2f}' for t in mirrored)})")
    print(f"  overhead:          {100 * (with_mirror - base) / base:+.1f}%  (target: at most +10%)")
    print(f"  mirror complete in MLflow {_median(done):.2f} s after the run started (in the background)")


if __name__ == "__main__":
    main()
