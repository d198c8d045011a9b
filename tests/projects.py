"""Small real projects on disk for runner tests: a pipeline file, user modules and data."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import textwrap

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PENGUINS = os.path.join(REPO, "examples", "penguin", "data", "penguins.csv")
HEADRACE = os.path.join(os.path.dirname(sys.executable), "headrace")

STEPS_MODULE = '''
import json
import os
import time

from headrace.components import Artifact, Context, Examples, Output, component

import helpers


class Report(Artifact):
    """A JSON file."""


@component(requires=("pyarrow",))
def count(examples: Examples, report: Output[Report], scale: float = 1.0) -> dict:
    rows = {s: examples.properties["row_counts"][s] for s in examples.splits}
    os.makedirs(report.uri, exist_ok=True)
    with open(os.path.join(report.uri, "rows.json"), "w") as f:
        json.dump({"rows": rows, "scaled": helpers.scale(sum(rows.values()), scale)}, f, sort_keys=True)
    return {"rows": sum(rows.values())}


@component
def publish(report: Report, final: Output[Report], fail: bool = False, secret: str = "", ctx: Context = None) -> None:
    ctx.log.info("publishing with secret %s", secret)
    print("stdout line with secret", secret)
    if fail:
        raise RuntimeError("publish was told to fail")
    os.makedirs(final.uri, exist_ok=True)
    with open(os.path.join(report.uri, "rows.json")) as src, open(os.path.join(final.uri, "final.json"), "w") as dst:
        dst.write(src.read())


@component
def flaky(report: Report, out: Output[Report], counter: str = "") -> None:
    """Fails on its first attempt, leaving a half-written output behind; succeeds on the next."""
    os.makedirs(out.uri, exist_ok=True)
    attempts = int(open(counter).read()) if os.path.exists(counter) else 0
    open(counter, "w").write(str(attempts + 1))
    with open(os.path.join(out.uri, f"attempt-{attempts}.txt"), "w") as f:
        f.write("written\\n")
    if attempts == 0:
        raise RuntimeError("first attempt fails")


@component
def slow(report: Report, out: Output[Report], marker: str = "") -> None:
    """Writes half its output, then waits for the test to kill the process (or for `go` to appear)."""
    os.makedirs(out.uri, exist_ok=True)
    with open(os.path.join(out.uri, "part-1.txt"), "w") as f:
        f.write("first half\\n")
    if marker:
        open(marker, "w").close()
        while not os.path.exists(marker + ".go"):
            time.sleep(0.05)
    with open(os.path.join(out.uri, "part-2.txt"), "w") as f:
        f.write("second half\\n")
'''

HELPERS_MODULE = """
def scale(value, factor):
    return value * factor
"""

PIPELINE = """
name: demo
root: ./runs
metadata: {metadata}
params:
  scale: 1.0
components:
  ingest:
    type: ingest
    params:
      source: data/penguins.csv
      splits: {{train: 8, eval: 2}}
  count:
    type: steps:count
    inputs: {{examples: ingest.examples}}
    params: {{scale: "${{params.scale}}"}}
  publish:
    type: steps:publish
    inputs: {{report: count.report}}
{extra}
"""


def make_project(folder: str, metadata: str = "sqlite:///runs/metadata.db", extra: str = "") -> str:
    """Write the demo project into ``folder``; returns the pipeline file's path."""
    os.makedirs(os.path.join(folder, "data"), exist_ok=True)
    shutil.copy(PENGUINS, os.path.join(folder, "data", "penguins.csv"))
    with open(os.path.join(folder, "steps.py"), "w") as f:
        f.write(STEPS_MODULE)
    with open(os.path.join(folder, "helpers.py"), "w") as f:
        f.write(HELPERS_MODULE)
    path = os.path.join(folder, "pipeline.yaml")
    with open(path, "w") as f:
        f.write(PIPELINE.format(metadata=metadata, extra=textwrap.indent(textwrap.dedent(extra), "  ")))
    return path


def cli(*args: str) -> tuple[int, str]:
    """Run the CLI in this process (fast: imports are shared); its exit code and output."""
    from click.testing import CliRunner

    from headrace.pipelines.cli import main

    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result.exit_code, result.output


def latest_outputs(pipeline_file: str) -> dict:
    """component -> (execution, {output name: artifact}) of the pipeline's newest run."""
    from headrace.metadata.store import MetadataStore
    from headrace.pipelines.loader import load_pipeline

    store = MetadataStore(load_pipeline(pipeline_file).metadata_url)
    run_id = store.list_runs(limit=1)[0].id
    return {e.component: (e, store.outputs_of(e.id)) for e in store.executions(run_id)}


def headrace(
    *args: str, check: bool = False, env: dict | None = None, timeout: float = 300, cwd: str | None = None
) -> subprocess.CompletedProcess:
    """Run the real console script in a subprocess (in ``cwd``, by default this one)."""
    return subprocess.run(
        [HEADRACE, *args],
        capture_output=True,
        text=True,
        check=check,
        env={**os.environ, **(env or {})},
        timeout=timeout,
        cwd=cwd,
    )


def headrace_on_a_terminal(*args: str, typescript: str, timeout: float = 300) -> tuple[int, str]:
    """Run the console script with a terminal as its stdout (util-linux ``script``), 120 columns wide.

    Returns the exit code and everything the terminal received, escape codes included
    (kept in the file ``typescript``). Tests that use it skip where ``script`` is missing.
    """
    command = f"stty cols 120; {shlex.join([HEADRACE, *args])}"
    result = subprocess.run(
        ["script", "-qec", command, typescript],
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
    with open(typescript, errors="replace") as f:
        return result.returncode, f.read()


NO_TERMINAL = shutil.which("script") is None
"""No util-linux ``script`` to give a run a terminal: the live-view tests skip."""
