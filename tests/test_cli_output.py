"""What the CLI prints for people and for scripts, and how it refuses what cannot work.

Driven through the real console script with stdout a pipe (as ``| cat``
and CI logs see it), and ``COLUMNS=40`` so that any wrapping would show.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from tests.projects import REPO, headrace, make_project

NARROW = {"COLUMNS": "40"}

METRICS_STEP = """

@component
def measure(report: Report) -> dict:
    return {"rows": 3_000_000, "share": 0.953125, "seconds": 1234.5678}
"""


@pytest.fixture
def project(tmp_path):
    return make_project(str(tmp_path / "demo"))


def run_ok(*args: str, env: dict | None = None):
    done = headrace(*args, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    return done


# -- 13: one row per line when stdout is not a terminal; --format tsv|json -----------------------


def test_piped_tables_keep_each_row_on_one_line(project):
    ran = run_ok("run", project, env=NARROW)
    summary = [line for line in ran.stdout.splitlines() if line.startswith("ingest ")]
    assert summary and summary[-1].split()[:3] == ["ingest", "ingest", "done"]
    assert summary[-1].endswith("no earlier execution")
    run_ok("run", project, "--only", "count", "--set", "params.scale=2", env=NARROW)

    listed = run_ok("runs", "-p", project, env=NARROW).stdout.splitlines()
    assert len(listed) == 3  # a header and one line per run
    assert listed[1].endswith("1 done") and listed[2].endswith("3 done")
    assert all(not line.endswith(" ") for line in listed)

    run_id = listed[2].split()[0]
    shown = run_ok("show", run_id, "-p", project, env=NARROW).stdout
    assert re.search(r"^\d+\s+ingest\s+ingest\s+done\s+\S+\s+no earlier execution$", shown, re.M)


def test_runs_and_show_for_scripts(project):
    run_ok("run", project)
    run_ok("run", project)
    tsv = run_ok("runs", "-p", project, "--format", "tsv").stdout.splitlines()
    assert tsv[0].split("\t") == ["run", "pipeline", "state", "started", "duration_s", "components"]
    newest = tsv[1].split("\t")
    assert newest[1:3] == ["demo", "succeeded"] and newest[5] == "3 cached"

    runs = json.loads(run_ok("runs", "-p", project, "--format", "json").stdout)
    assert [r["run_id"] for r in runs] == [tsv[1].split("\t")[0], tsv[2].split("\t")[0]]
    assert set(runs[0]) == {"run_id", "pipeline", "state", "started_at", "ended_at", "duration_s", "components"}
    assert runs[0]["components"] == {"cached": 3} and runs[1]["components"] == {"complete": 3}

    first = runs[1]["run_id"]
    detail = json.loads(run_ok("show", first, "-p", project, "--format", "json").stdout)
    assert detail["run_id"] == first and detail["state"] == "succeeded"
    by_name = {e["component"]: e for e in detail["executions"]}
    assert by_name["ingest"]["reason"] == "no earlier execution"
    assert by_name["count"]["metrics"] == {"rows": 344}
    assert by_name["ingest"]["outputs"]["examples"]["type"] == "Examples"
    assert by_name["ingest"]["outputs"]["examples"]["properties"]["row_counts"]

    rows = run_ok("show", first, "-p", project, "--format", "tsv").stdout.splitlines()
    assert rows[0].split("\t")[:4] == ["execution", "component", "type", "state"]
    assert [r.split("\t")[1] for r in rows[1:]] == ["ingest", "count", "publish"]


# -- 15: metrics as a person reads them ----------------------------------------------------------


def test_metrics_are_not_in_scientific_notation(tmp_path):
    project = make_project(
        str(tmp_path / "demo"), extra="measure:\n  type: steps:measure\n  inputs: {report: count.report}\n"
    )
    with open(os.path.join(os.path.dirname(project), "steps.py"), "a") as f:
        f.write(METRICS_STEP)
    run_ok("run", project)
    run_id = run_ok("runs", "-p", project, "--ids").stdout.split()[0]
    shown = run_ok("show", run_id, "-p", project).stdout
    assert "measure metrics  rows=3,000,000, seconds=1,234.57, share=0.9531" in shown
    assert "e+0" not in shown


def test_format_metric():
    from headrace.pipelines.numbers import format_metric

    assert format_metric(3e6) == "3,000,000"  # a count stored as a float
    assert format_metric(344) == "344"
    assert format_metric(0.953125) == "0.9531"
    assert format_metric(12.3456) == "12.35"
    assert format_metric(1234.5678) == "1,234.57"
    assert format_metric(1e-7) == "1.000e-07"
    assert format_metric(float("nan")) == "nan"


# -- 11: a root that cannot hold artifacts ---------------------------------------------------------


def test_a_root_through_a_regular_file_is_refused_before_anything_runs(project):
    folder = os.path.dirname(project)
    open(os.path.join(folder, "afile"), "w").close()
    ran = headrace("run", project, "--set", "root=afile/runs")
    assert ran.returncode == 2
    assert "Traceback" not in ran.stderr
    blocking = os.path.join(folder, "afile")
    assert ran.stderr.startswith(f"{project}: error: root '{blocking}/runs' cannot hold the run's artifacts and logs")
    assert f"'{blocking}' is a file, not a folder" in ran.stderr
    assert "hint: set root: to a folder you can write" in ran.stderr
    assert not os.path.exists(os.path.join(folder, "runs"))  # nothing was recorded


def test_a_root_that_cannot_be_written_is_refused(project):
    """Tests run as root, which writes through any permission bits: /sys refuses even root."""
    try:
        os.mkdir("/sys/headrace-probe")
    except OSError:
        pass
    else:
        os.rmdir("/sys/headrace-probe")
        pytest.skip("/sys is writable here, no read-only folder to test with")
    ran = headrace("run", project, "--set", "root=/sys/headrace-runs")
    assert ran.returncode == 2 and "Traceback" not in ran.stderr
    assert "root '/sys/headrace-runs' cannot hold the run's artifacts and logs: cannot write there" in ran.stderr


# -- 16: usage errors exit 2; the YAML hint for ${...} in a flow mapping; ctx.log in the README ---


def test_only_and_from_naming_no_component_are_usage_errors(project):
    ran = headrace("run", project, "--only", "cuont")
    assert ran.returncode == 2
    assert "Invalid value for '--only': no component named 'cuont'" in ran.stderr
    assert "did you mean 'count'?" in ran.stderr
    ran = headrace("run", project, "--from", "nosuch")
    assert ran.returncode == 2
    assert "components: ingest, count, publish" in ran.stderr


def test_unquoted_interpolation_in_a_flow_mapping_hints_to_quote_it(project):
    path = Path(project)
    text = path.read_text().replace('params: {scale: "${params.scale}"}', "params: {scale: ${params.scale}}")
    path.write_text(text)
    line = text.splitlines().index("    params: {scale: ${params.scale}}") + 1
    ran = headrace("validate", project)
    assert ran.returncode == 2
    assert f"{project}:{line}:21: error: invalid YAML" in ran.stderr
    assert 'hint: inside {...} or [...] a ${...} must be quoted: write "${params.scale}"' in ran.stderr


def test_readme_names_the_context_logger_as_it_is():
    from headrace.components import Context

    readme = Path(REPO, "README.md").read_text()
    assert "log" in Context.__dataclass_fields__ and "logger" not in Context.__dataclass_fields__
    assert "`ctx.log`" in readme and "ctx.logger" not in readme
