"""`headrace diff RUN_A RUN_B`: what changed between two runs, from the metadata store alone."""

from __future__ import annotations

import json
from pathlib import Path

from tests.projects import headrace, make_project
from tests.test_mlflow_mirror import run_id_of


def test_diff_names_the_parameter_data_and_code_that_changed_and_shows_metrics_side_by_side(tmp_path: Path) -> None:
    pipeline = make_project(str(tmp_path))
    first = run_id_of(headrace("run", pipeline, "-q", check=True))
    data = tmp_path / "data" / "penguins.csv"
    data.write_text("\n".join(data.read_text().splitlines()[:201]) + "\n")  # 200 rows instead of 344
    (tmp_path / "helpers.py").write_text("def scale(value, factor):\n    return value * factor * 1\n")
    second = run_id_of(headrace("run", pipeline, "-q", "--set", "params.scale=2.0", check=True))
    Path(pipeline).unlink()  # the store alone answers

    store = f"sqlite:///{tmp_path / 'runs' / 'metadata.db'}"
    text = headrace("diff", first, second, "--metadata", store)
    assert text.returncode == 0, text.stderr
    assert "re-ran in B: ingest, count, publish" in text.stdout
    assert "data source (data/penguins.csv): content changed" in text.stdout
    assert "parameter scale: 1.0 -> 2.0" in text.stdout
    assert "user code helpers.py: changed" in text.stdout
    assert "rows           344           200  (-144)" in text.stdout

    compared = json.loads(headrace("diff", first, second, "--metadata", store, "--format", "json", check=True).stdout)
    assert compared["a"]["run_id"] == first and compared["b"]["run_id"] == second
    assert compared["pipeline_params"] == [{"key": "scale", "a": 1.0, "b": 2.0}]
    count = next(c for c in compared["components"] if c["component"] == "count")
    assert count["reran"] is True
    assert {"key": "scale", "a": 1.0, "b": 2.0} in count["params"]
    assert {"name": "rows", "a": 344.0, "b": 200.0, "change": -144.0} in count["metrics"]


def test_diff_of_a_rerun_with_nothing_changed_says_all_cached(tmp_path: Path) -> None:
    pipeline = make_project(str(tmp_path))
    first = run_id_of(headrace("run", pipeline, "-q", check=True))
    second = run_id_of(headrace("run", pipeline, "-q", check=True))
    result = headrace("diff", first, second, "-p", pipeline)
    assert "re-ran in B: nothing (all cached)" in result.stdout
    assert "cached (reused execution" in result.stdout


def test_diff_of_an_unknown_run_says_how_to_list_runs(tmp_path: Path) -> None:
    pipeline = make_project(str(tmp_path))
    first = run_id_of(headrace("run", pipeline, "-q", check=True))
    result = headrace("diff", first, "no-such-run", "-p", pipeline)
    assert result.returncode == 1
    assert "no run 'no-such-run'" in result.stderr and "headrace runs" in result.stderr
