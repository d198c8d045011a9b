"""Per-component overhead of the local runner, and the cost of a fully cached rerun.

1. A chain of 50 no-op user components on a fresh SQLite store, run twice in
   this process: the first run executes all 50, the second hits the cache for
   all 50. Overhead per component = run time / 50 (the components do nothing).
2. The penguin example through the real CLI in a subprocess: one run to fill
   the cache, then a fully cached rerun timed end to end, CLI start included.

Targets (issue 5): <= 20 ms per executed component, <= 5 ms per cached one,
fully cached example rerun < 1 s.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
CHAIN = 50

NOOP_MODULE = '''
from headrace.components import Artifact, Output, component


class Marker(Artifact):
    """Nothing but a link in the chain."""


@component
def step(previous: Marker | None, marker: Output[Marker], index: int = 0) -> None:
    """Does nothing: what remains is the runner's own cost."""
'''


def write_chain(folder: str) -> str:
    with open(os.path.join(folder, "noop.py"), "w") as f:
        f.write(NOOP_MODULE)
    lines = ["name: overhead", "root: ./runs", "metadata: sqlite:///runs/metadata.db", "components:"]
    for i in range(CHAIN):
        lines.append(f"  step{i:02d}:")
        lines.append("    type: noop:step")
        lines.append(f"    params: {{index: {i}}}")  # distinct steps: same inputs and params would share a cache entry
        if i:
            lines.append(f"    inputs: {{previous: step{i - 1:02d}.marker}}")
    path = os.path.join(folder, "pipeline.yaml")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return path


def chain_overhead() -> None:
    from headrace.metadata.store import MetadataStore
    from headrace.pipelines.loader import load_pipeline
    from headrace.pipelines.local_runner import run_pipeline
    from headrace.pipelines.progress import QuietProgress

    folder = tempfile.mkdtemp(prefix="headrace-overhead-")
    try:
        pipeline = load_pipeline(write_chain(folder))
        store = MetadataStore(pipeline.metadata_url)
        for label, expected in (("executed", "complete"), ("cached", "cached")):
            from rich.console import Console

            with open(os.devnull, "w") as devnull:
                started = time.perf_counter()
                result = run_pipeline(pipeline, store, QuietProgress(Console(file=devnull)), parallelism=1)
                seconds = time.perf_counter() - started
            states = {o.state for o in result.outcomes.values()}
            assert states == {expected}, f"expected every component {expected}, got {states}"
            print(
                f"chain of {CHAIN}, {label:8s}: {seconds:6.3f} s total, {1000 * seconds / CHAIN:6.2f} ms per component"
            )
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def example_cached_rerun() -> None:
    folder = tempfile.mkdtemp(prefix="headrace-example-")
    try:
        example = os.path.join(folder, "penguin")
        shutil.copytree(
            os.path.join(REPO, "examples", "penguin"), example, ignore=shutil.ignore_patterns("runs", "__pycache__")
        )
        headrace = os.path.join(os.path.dirname(sys.executable), "headrace")
        cmd = [headrace, "run", "--quiet", os.path.join(example, "pipeline.yaml")]
        started = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        first = time.perf_counter() - started
        timings = []
        for _ in range(3):
            started = time.perf_counter()
            subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
            timings.append(time.perf_counter() - started)
        started = time.perf_counter()
        subprocess.run([headrace, "--help"], check=True, stdout=subprocess.DEVNULL)
        cli_start = time.perf_counter() - started
        print(f"example, first run:          {first:6.3f} s (CLI start included)")
        print(
            f"example, fully cached rerun: {min(timings):6.3f} s best of 3, {max(timings):.3f} s worst (CLI start included)"
        )
        print(f"CLI start (headrace --help): {cli_start:6.3f} s")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    sys.path.insert(0, REPO)
    chain_overhead()
    example_cached_rerun()
