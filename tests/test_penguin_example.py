"""The penguin example end to end through the CLI: clean data passes, drifted data is reported."""

from __future__ import annotations

import glob
import json
import os
import shutil
from pathlib import Path

import pytest

from headrace.metadata.store import MetadataStore
from headrace.pipelines.loader import load_pipeline
from tests.browser import chromium_path, render_page
from tests.projects import cli as run
from tests.projects import latest_outputs as outputs

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DRIFT = "components.ingest.params.source=data/penguins_drift.csv"


@pytest.fixture
def example(tmp_path):
    target = tmp_path / "penguin"
    shutil.copytree(
        os.path.join(REPO, "examples", "penguin"), target, ignore=shutil.ignore_patterns("runs", "__pycache__")
    )
    return str(target / "pipeline.yaml")


def test_clean_data_passes_validation(example):
    code, out = run("run", example)
    assert code == 0, out
    found = outputs(example)
    anomalies = found["validator"][1]["anomalies"]
    # quiet: no skew between the 80/20 split (about 80 eval rows) and no drift, at the inferred thresholds
    assert anomalies.properties["counts"] == {"error": 0, "warning": 0}
    report = json.loads(Path(anomalies.uri, "anomalies.json").read_text())
    assert report["not_checked"] == [] and report["compared"]["skew"] == "train split vs eval split"
    schema = Path(REPO, "examples", "penguin", "schema.yaml").read_text()
    assert "0.15" not in schema and "skew: {linf: 0.05, psi: 0.1}" in schema  # no loosened threshold
    stats = found["statistics"][1]["statistics"]
    document = json.loads(Path(stats.uri, "statistics.json").read_text())
    assert sum(s["num_rows"] for s in document["splits"].values()) == 344
    assert os.path.isfile(os.path.join(stats.uri, "statistics.html"))


def test_drifted_data_fails_with_each_anomaly_and_its_fix(example):
    assert run("run", example)[0] == 0
    code, out = run("run", example, "--set", DRIFT)
    assert code == 1
    assert "Traceback" not in out  # a data problem is a message, not a stack
    assert "island [train]: out_of_domain" in out and "'Anvers'" in out
    assert "Add 'Anvers' to columns.island.domain" in out
    assert "sex [train]: missing_fraction" in out
    assert "body_mass_g [train]: drift" in out and "Wasserstein distance 1.09" in out
    assert "mean 4,225 → 5,095 g, +1.10 standard deviations" in out
    assert "island [train]: drift" in out and "the share of 'Anvers' 0% → 11.7% (+11.7 points)" in out
    found = outputs(example)
    assert found["validator"][0].state == "failed"
    assert found["statistics"][0].state == "complete"  # what was published stays


def test_a_failed_gate_keeps_its_report_and_stays_failed_on_resume_and_rerun(example):
    """The validator fails the run on drifted data *after* publishing its Anomalies: the report a user needs exists."""
    code, out = run("run", example, "--set", DRIFT)
    assert code == 1
    execution, produced = outputs(example)["validator"]
    assert execution.state == "failed" and "data validation failed" in (execution.error or "")
    anomalies = produced["anomalies"]  # published and recorded, with its report
    page = os.path.join(anomalies.uri, "anomalies.html")
    assert os.path.isfile(page) and anomalies.properties["counts"]["error"] >= 3
    assert f"report: {page}" in out  # the failure message links it
    assert execution.metrics["anomaly_errors"] >= 3
    code, shown = run("show", execution.run_id, "-p", example)
    assert code == 0 and "validator failed" in shown and f"report: {page}" in shown

    code, out = run("run", example, "--set", DRIFT, "--resume", execution.run_id)
    assert code == 1, out  # resume checks the gate again: it still fails, never passes silently
    store = MetadataStore(load_pipeline(example).metadata_url)
    again = [e for e in store.executions(execution.run_id) if e.component == "validator"]
    assert [e.state for e in again] == ["failed", "failed"]
    code, out = run("run", example, "--set", DRIFT)
    assert code == 1  # a new run on the same data: the failed gate is no cache hit
    assert outputs(example)["validator"][0].state == "failed"


def test_anomalies_recorded_without_failing_and_shown(example, tmp_path):
    code, out = run("run", example, "--set", DRIFT, "--set", "components.validator.params.fail_on=never")
    assert code == 0, out
    found = outputs(example)
    execution, produced = found["validator"]
    anomalies = produced["anomalies"]
    assert anomalies.properties["counts"]["error"] >= 3
    code, shown = run("show", execution.run_id, "-p", example)
    assert code == 0
    assert "errors" in shown and "island: out_of_domain (train)" in shown
    page = os.path.join(anomalies.uri, "anomalies.html")
    assert os.path.isfile(page)
    if chromium_path() is None:
        pytest.skip("chromium is not installed (apt-get install chromium; .ci/run installs it)")
    rendered = render_page(Path(page), screenshot=tmp_path / "anomalies.png")
    assert rendered.console_errors == []
    assert rendered.remote_requests == []
    assert "Anvers" in rendered.text and "out of domain" in rendered.text.lower()
    stats_page = glob.glob(os.path.join(found["statistics"][1]["statistics"].uri, "*.html"))[0]
    rendered = render_page(Path(stats_page))
    assert rendered.console_errors == [] and "body_mass_g" in rendered.text


def test_example_transform_scales_measurements_and_keeps_the_label(example, tmp_path):
    from headrace.components import Examples, TransformGraph

    code, out = run("run", example)
    assert code == 0, out
    found = outputs(example)
    record, graph = found["transform"][1]["transformed_examples"], found["transform"][1]["transform_graph"]
    transformed = Examples(uri=record.uri, properties=record.properties)
    train = transformed.to_table("train")
    assert train["species"].type == "string"  # the label keeps its values for the trainer
    for column in ("bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g"):
        values = train[column]
        assert values.null_count == 0  # filled with the train mean, then z-scored
        assert abs(sum(values.to_pylist()) / len(values)) < 1e-9
    assert str(train["island"].type) == "int64" and str(train["sex"].type) == "int64"
    assert train["year"].to_pylist()[:3] == [2007, 2007, 2007]  # not a measurement: untouched
    ingest = Examples(uri=found["ingest"][1]["examples"].uri, properties=found["ingest"][1]["examples"].properties)
    loaded = TransformGraph.load(graph.uri)
    assert loaded.transform(ingest.to_table("eval")).equals(transformed.to_table("eval"))
    page = Path(graph.uri) / "transform.html"
    if chromium_path() is None:
        pytest.skip("chromium is not installed (apt-get install chromium; .ci/run installs it)")
    rendered = render_page(page, screenshot=tmp_path / "transform.png")
    assert rendered.console_errors == [] and rendered.remote_requests == []
    assert "scale_to_z_score" in rendered.text and "vocabulary of 3" in rendered.text
    assert "nulls become the mean" in rendered.text


def test_example_trains_a_model_that_takes_raw_rows(example):
    """The README's first command trains the penguin model; it answers raw rows, nulls and unseen islands included."""
    import mlflow.pyfunc
    import pandas as pd

    code, out = run("run", example)
    assert code == 0, out
    execution, produced = outputs(example)["trainer"]
    assert execution.state == "complete" and execution.metrics["eval_accuracy"] > 0.9
    model = produced["model"]
    assert model.properties["task"] == "classification" and model.properties["flavor"] == "sklearn"
    # fitted on named columns without year: the model takes those; a request still carries every raw column
    assert "year" not in model.properties["features"] and "year" in model.properties["raw_columns"]
    rows = pd.DataFrame(
        [
            {"island": "Biscoe", "bill_length_mm": 47.0, "bill_depth_mm": 14.5, "flipper_length_mm": 215,
             "body_mass_g": 5200, "sex": None, "year": 2008},
            {"island": "Anvers", "bill_length_mm": 38.5, "bill_depth_mm": 18.5, "flipper_length_mm": None,
             "body_mass_g": 3600, "sex": "female", "year": 2009},
        ]
    )  # fmt: skip
    assert list(mlflow.pyfunc.load_model(model.uri).predict(rows)) == ["Gentoo", "Adelie"]
