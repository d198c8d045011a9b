"""The evaluator in real pipelines: metrics against sklearn, slices, thresholds, baselines, blessing, `headrace bless`.

One module-scoped history of runs is made once, in a project holding two
pipelines that share one metadata store and artifact root:

- pipeline ``penguin-eval`` (A): a1 a good model (the first: no baseline),
  a2 and a3 weak models (not blessed; the run goes on), then ``headrace bless``
  of a2's model by hand, then a4, whose baseline is that model;
- pipeline ``penguin-other`` (B), with thresholds no model passes: b1 reuses
  a1's model through the cache, b2 a4's; B's baseline never comes from A's
  blessings, although the model artifacts are shared.

Tests only read that history, so they can run in any order and on any worker.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from headrace.metadata.records import ArtifactRecord
from headrace.metadata.store import MetadataStore
from headrace.pipelines.cli import main
from headrace.pipelines.loader import load_pipeline
from tests.browser import chromium_path, render_page
from tests.projects import PENGUINS

PIPELINE = """
name: {name}
root: ./runs
metadata: sqlite:///runs/metadata.db
components:
  ingest: {{type: ingest, params: {{source: penguins.csv, splits: {{train: 8, eval: 2}}}}}}
  transform:
    type: transform
    inputs: {{examples: ingest.examples}}
    params:
      ops:
        - fill_missing: {{select: {{type: numeric, pattern: "_(mm|g)$"}}, strategy: mean}}
        - scale_to_z_score: {{select: {{type: numeric, pattern: "_(mm|g)$"}}}}
        - compute_and_apply_vocabulary: {{select: {{type: categorical, exclude: [species]}}}}
  trainer:
    type: tests.models:train
    inputs: {{examples: transform.transformed_examples, transform_graph: transform.transform_graph,
              raw_examples: ingest.examples}}
    params: {{label: species, C: 1.0}}
  evaluator:
    type: evaluator
    inputs:
      model: trainer.model
      examples: {examples}
      baseline: {{latest: trainer.model, blessed: true}}
    params:
{params}
"""
A_PARAMS = """      slices: [[island], sex, [island, sex]]
      thresholds:
        accuracy: {min: 0.9, max_drop: 0.01}
        log_loss: {max: 0.5}"""
B_PARAMS = """      slices: [[island], sex, [island, sex]]
      thresholds:
        accuracy: {min: 0.999}"""
WEAK = "components.trainer.params.C=0.0005"  # predicts little more than the majority class


def cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result.exit_code, result.output


@dataclass
class Run:
    run_id: str
    output: str
    artifacts: dict[str, ArtifactRecord] = field(default_factory=dict)  # "node.output" -> artifact
    inputs: dict[str, ArtifactRecord] = field(default_factory=dict)  # the evaluator's inputs
    resolutions: dict[str, str] = field(default_factory=dict)

    def metrics(self) -> dict[str, Any]:
        return json.loads(Path(self.artifacts["evaluator.evaluation"].uri, "metrics.json").read_text())

    def blessing(self) -> dict[str, Any]:
        return json.loads(Path(self.artifacts["evaluator.blessing"].uri, "blessing.json").read_text())

    @property
    def model(self) -> ArtifactRecord:
        return self.artifacts["trainer.model"]


@dataclass
class History:
    folder: Path
    a: str
    b: str
    store: MetadataStore
    runs: dict[str, Run]
    bless_output: str


def pipeline_text(name: str, params: str, examples: str = "ingest.examples") -> str:
    return PIPELINE.format(name=name, params=params, examples=examples)


def record(store: MetadataStore, pipeline_file: str, *overrides: str) -> Run:
    args = ["run", pipeline_file]
    for override in overrides:
        args += ["--set", override]
    code, out = cli(*args)
    assert code == 0, out
    run_id = store.list_runs(pipeline=load_pipeline(pipeline_file).name, limit=1)[0].id
    run = Run(run_id, out)
    for execution in store.executions(run_id):
        for name, artifact in store.outputs_of(execution.id).items():
            run.artifacts[f"{execution.component}.{name}"] = artifact
        if execution.component == "evaluator":
            run.inputs = store.inputs_of(execution.id)
            run.resolutions = store.input_resolutions(execution.id)
    return run


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> History:
    folder = tmp_path_factory.mktemp("evaluator")
    shutil.copy(PENGUINS, folder / "penguins.csv")
    a, b = str(folder / "a.yaml"), str(folder / "b.yaml")
    Path(a).write_text(pipeline_text("penguin-eval", A_PARAMS))
    Path(b).write_text(pipeline_text("penguin-other", B_PARAMS))
    store = MetadataStore(load_pipeline(a).metadata_url)
    runs = {"a1": record(store, a), "a2": record(store, a, WEAK)}
    runs["a3"] = record(store, a, "components.trainer.params.C=0.001")
    code, bless_output = cli(
        "bless", str(runs["a2"].model.id), "--reason", "labels fixed upstream", "--by", "alice", "-p", a
    )
    assert code == 0, bless_output
    runs["a4"] = record(store, a, "components.trainer.params.C=0.3")
    runs["b1"] = record(store, b)
    runs["b2"] = record(store, b, "components.trainer.params.C=0.3")
    return History(folder, a, b, store, runs, bless_output)


def eval_rows(history: History) -> Any:
    examples = history.runs["a1"].artifacts["ingest.examples"]
    import pyarrow.dataset as ds

    return ds.dataset(os.path.join(examples.uri, "Split-eval"), format="parquet").to_table().to_pandas()


# -- metrics ----------------------------------------------------------------------------------------------------------


def test_metrics_are_sklearns_on_the_packaged_models_predictions_of_raw_rows(history):
    from sklearn import metrics as skm

    from headrace.components.model_package import load_model

    run = history.runs["a1"]
    model = load_model(run.model.uri)
    rows = eval_rows(history)
    y, predicted, proba = rows["species"].to_numpy(), model.predict(rows), model.predict_proba(rows)
    found = run.metrics()
    values = found["model"]["metrics"]
    assert found["rows"] == {"read": len(rows), "evaluated": len(rows), "without_label": 0}
    assert values["accuracy"] == pytest.approx(skm.accuracy_score(y, predicted))
    precision, recall, f1, _ = skm.precision_recall_fscore_support(y, predicted, average="macro")
    assert (values["macro_precision"], values["macro_recall"], values["macro_f1"]) == pytest.approx(
        (precision, recall, f1)
    )
    assert values["log_loss"] == pytest.approx(skm.log_loss(y, proba, labels=model.classes))
    assert values["roc_auc"] == pytest.approx(skm.roc_auc_score(y, proba, multi_class="ovr", labels=model.classes))
    assert found["model"]["confusion_matrix"] == {
        "labels": model.classes,
        "matrix": skm.confusion_matrix(y, predicted, labels=model.classes).tolist(),
    }
    per_class = {c["class"]: c for c in found["model"]["per_class"]}
    p, r, f, support = skm.precision_recall_fscore_support(y, predicted, labels=model.classes)
    for i, name in enumerate(model.classes):
        assert per_class[name]["support"] == support[i]
        assert (per_class[name]["precision"], per_class[name]["recall"], per_class[name]["f1"]) == pytest.approx(
            (p[i], r[i], f[i])
        )
    # the same numbers reach the store, where `show`, `diff` and MLflow read them
    execution = next(e for e in history.store.executions(run.run_id) if e.component == "evaluator")
    assert execution.metrics["accuracy"] == pytest.approx(values["accuracy"])
    assert run.artifacts["evaluator.evaluation"].properties["metrics"] == values


def test_slices_have_the_metrics_of_their_rows_and_null_is_a_slice(history):
    from sklearn import metrics as skm

    from headrace.components.model_package import load_model

    run = history.runs["a1"]
    rows = eval_rows(history)
    predicted = load_model(run.model.uri).predict(rows)
    found = {tuple(s["columns"]): s for s in run.metrics()["slices"]}
    assert list(found) == [("island",), ("sex",), ("island", "sex")]
    by_island = {e["name"]: e for e in found[("island",)]["slices"]}
    assert sorted(by_island) == sorted(f"island={v}" for v in rows["island"].unique())
    for island, entry in by_island.items():
        mask = (rows["island"] == island.split("=")[1]).to_numpy()
        assert entry["rows"] == mask.sum()
        assert entry["metrics"]["accuracy"] == pytest.approx(skm.accuracy_score(rows["species"][mask], predicted[mask]))
        assert entry["tiny"] == (mask.sum() < 20)
    by_sex = {e["name"]: e for e in found[("sex",)]["slices"]}
    assert by_sex["sex=null"]["values"] == {"sex": None}
    assert by_sex["sex=null"]["rows"] == rows["sex"].isna().sum() > 0
    assert list(by_sex)[-1] == "sex=null"  # null last
    crossed = found[("island", "sex")]["slices"]
    assert sum(e["rows"] for e in crossed) == len(rows)
    assert all(set(e["values"]) == {"island", "sex"} for e in crossed)


# -- thresholds, blessing, baseline ------------------------------------------------------------------------------------


def test_the_first_model_has_no_baseline_is_judged_by_value_thresholds_and_says_so(history):
    run = history.runs["a1"]
    assert "baseline" not in run.inputs and run.resolutions == {}
    blessing = run.blessing()
    assert blessing["blessed"] is True and blessing["forced"] is False
    assert "judged by value thresholds alone" in blessing["summary"]
    assert blessing["baseline"] == {"fingerprint": None, "used": False, "note": blessing["baseline"]["note"]}
    lines = {(c["metric"], c["kind"]): c for c in blessing["checks"]}
    assert set(lines) == {("accuracy", "min"), ("accuracy", "max_drop"), ("log_loss", "max")}
    assert lines[("accuracy", "min")]["result"] == "pass" and lines[("accuracy", "min")]["bound"] == 0.9
    assert lines[("accuracy", "max_drop")]["result"] == "not checked"
    assert lines[("accuracy", "max_drop")]["baseline"] is None
    properties = run.artifacts["evaluator.blessing"].properties
    assert properties["blessed"] is True and properties["checks"] == blessing["checks"]
    assert history.store.is_blessed(run.model, pipeline="penguin-eval")


def test_a_model_below_its_thresholds_is_not_blessed_and_the_run_goes_on_saying_why(history):
    weak, first = history.runs["a2"], history.runs["a1"]
    assert weak.inputs["baseline"].id == first.model.id and weak.resolutions == {"baseline": "latest blessed"}
    blessing = weak.blessing()
    assert blessing["blessed"] is False
    lines = {(c["metric"], c["kind"]): c for c in blessing["checks"]}
    accuracy = first.metrics()["model"]["metrics"]["accuracy"]
    drop = lines[("accuracy", "max_drop")]
    assert drop["result"] == "fail" and drop["baseline"] == pytest.approx(accuracy)
    assert drop["bound"] == pytest.approx(accuracy - 0.01) and drop["value"] < drop["bound"]
    assert lines[("accuracy", "min")]["result"] == "fail"
    # published, recorded, and said at the end of a run that succeeded
    execution = next(e for e in history.store.executions(weak.run_id) if e.component == "evaluator")
    assert execution.state == "complete" and execution.metrics["blessed"] == 0
    assert weak.artifacts["evaluator.evaluation"].state == "live"
    assert "warning: evaluator.blessing: NOT blessed: accuracy" in weak.output
    assert f"run {weak.run_id} succeeded" in weak.output
    # the evaluation holds the baseline's figures side by side
    found = weak.metrics()
    assert found["baseline"]["used"] and found["baseline"]["metrics"]["accuracy"] == pytest.approx(accuracy)
    assert all("baseline" in entry for s in found["slices"] for entry in s["slices"])


def test_the_baseline_is_the_latest_blessed_model_of_an_earlier_run_of_the_same_pipeline(history):
    runs = history.runs
    assert runs["a3"].blessing()["blessed"] is False
    assert runs["a3"].inputs["baseline"].id == runs["a1"].model.id  # a2's newer model was not blessed
    # a2's model was blessed by hand before a4: it is now the newest blessed one
    assert runs["a4"].inputs["baseline"].id == runs["a2"].model.id


def test_another_pipeline_sharing_the_store_and_its_models_never_takes_this_ones_blessings(history):
    runs = history.runs
    b1, b2 = runs["b1"], runs["b2"]
    assert b1.model.id == runs["a1"].model.id  # the same trainer, cached across pipelines: one artifact
    assert b1.blessing()["blessed"] is False  # B's thresholds are stricter
    assert "baseline" not in b1.inputs
    # b1's model is blessed in A, but not in B: B still has no baseline
    assert "baseline" not in b2.inputs, b2.inputs
    assert b2.blessing()["baseline"]["used"] is False
    assert history.store.is_blessed(b1.model, pipeline="penguin-eval")
    assert not history.store.is_blessed(b1.model, pipeline="penguin-other")


# -- headrace bless -----------------------------------------------------------------------------------------------------


def test_bless_records_who_and_why_and_show_and_lineage_say_it(history):
    weak = history.runs["a2"]
    model_id = weak.model.id
    out = history.bless_output
    assert f"Model #{model_id} blessed by hand by alice: labels fixed upstream" in out
    assert "the next run's {latest: trainer.model, blessed: true}" in out
    assert history.store.is_blessed(weak.model, pipeline="penguin-eval")
    execution = next(e for e, name in history.store.consumers(model_id) if e.component_type == "manual_blessing")
    assert execution.parameters == {"by": "alice", "reason": "labels fixed upstream"}
    blessing = history.store.outputs_of(execution.id)["blessing"]
    assert blessing.type == "ModelBlessing" and blessing.state == "live"
    assert {k: blessing.properties[k] for k in ("blessed", "forced", "by", "reason")} == {
        "blessed": True,
        "forced": True,
        "by": "alice",
        "reason": "labels fixed upstream",
    }
    assert json.loads(Path(blessing.uri, "blessing.json").read_text())["forced"] is True
    code, shown = cli("show", execution.run_id, "-p", history.a)
    assert code == 0 and "manual_blessing" in shown and "blessed by hand by alice: labels fixed upstream" in shown
    code, shown = cli("show", weak.run_id, "-p", history.a)  # the run whose evaluator did not bless it
    assert code == 0 and "NOT blessed" in shown
    assert f"blessed by hand by alice: labels fixed upstream (ModelBlessing #{blessing.id}" in shown
    code, traced = cli("lineage", str(model_id), "--down", "-p", history.a)
    assert code == 0
    assert f"-> headrace bless (execution {execution.id}" in traced
    assert "(blessed by hand by alice: labels fixed upstream)" in traced and "(NOT blessed)" in traced


def test_bless_refuses_what_is_not_a_model_and_needs_a_reason(history):
    evaluation = history.runs["a1"].artifacts["evaluator.evaluation"]
    code, out = cli("bless", str(evaluation.id), "--reason", "x", "-p", history.a)
    assert code == 1 and f"artifact #{evaluation.id} is ModelEvaluation, not a Model" in out
    code, out = cli("bless", "999999", "--reason", "x", "-p", history.a)
    assert code == 1 and "no artifact '999999'" in out
    code, out = cli("bless", str(history.runs["a1"].model.id), "--reason", "  ", "-p", history.a)
    assert code == 1 and "needs a reason" in out
    code, out = cli("bless", str(history.runs["a1"].model.id), "-p", history.a)
    assert code == 2 and "--reason" in out


# -- the report in a browser ----------------------------------------------------------------------------------------------


@pytest.mark.skipif(chromium_path() is None, reason="no Chromium installed (apt-get install chromium)")
def test_the_report_shows_the_verdict_thresholds_baseline_and_slices_in_a_browser(history, tmp_path):
    weak = history.runs["a2"]
    page = Path(weak.artifacts["evaluator.evaluation"].uri, "evaluation.html")
    rendered = render_page(page, screenshot=tmp_path / "evaluation.png", full_page=True)
    assert rendered.console_errors == [] and rendered.remote_requests == []
    text = rendered.text
    assert "Not blessed" in text
    assert "accuracy\tmin: 0.9" in text and "\tfail\t" in text
    first_accuracy = history.runs["a1"].metrics()["model"]["metrics"]["accuracy"]
    assert f"{first_accuracy:.4g}" in text  # the baseline's figure beside this model's
    assert "Confusion matrix" in text and "label ↓ predicted →" in text
    biscoe = next(e for e in weak.metrics()["slices"][0]["slices"] if e["name"] == "island=Biscoe")
    assert f"island=Biscoe\t{biscoe['rows']}\t" in text
    assert "sex=null" in text and "tiny" in text
    good = render_page(Path(history.runs["a1"].artifacts["evaluator.evaluation"].uri, "evaluation.html"))
    assert "Blessed" in good.text and "Not blessed" not in good.text and "not checked" in good.text


def test_outputs_are_the_same_bytes_for_the_same_model_data_and_parameters(history):
    """Content only: b1 re-evaluated a1's model on a1's data with other thresholds; the metrics agree exactly."""
    a1, b1 = history.runs["a1"].metrics(), history.runs["b1"].metrics()
    assert a1["model"] == b1["model"] and a1["slices"] == b1["slices"]


# -- bad input --------------------------------------------------------------------------------------------------------


def variant(history: History, file: str, params: str, **kwargs: str) -> str:
    """A pipeline beside the history's (same root and store, so ingest, transform and trainer are cache hits)."""
    path = history.folder / file
    path.write_text(pipeline_text(file.removesuffix(".yaml"), params, **kwargs))
    return str(path)


def position(path: str, text: str) -> str:
    """``file:line:col`` of the first ``text`` in the file, as errors print it."""
    for number, line in enumerate(Path(path).read_text().splitlines(), start=1):
        if text in line:
            return f"{path}:{number}:{line.index(text) + 1}"
    raise AssertionError(f"{text!r} not in {path}")


def test_a_threshold_on_an_unknown_metric_is_an_error_before_anything_runs_listing_the_metrics(history):
    path = variant(history, "misspelt.yaml", "      thresholds:\n        accurracy: {min: 0.9}")
    code, out = cli("validate", path)
    assert code == 2
    assert f"{position(path, 'accurracy')}: error: unknown key 'accurracy'" in out
    assert "did you mean 'accuracy'?" in out
    path = variant(history, "unknown.yaml", "      thresholds:\n        f2: {min: 0.9}")
    code, out = cli("validate", path)
    assert code == 2 and "unknown key 'f2'" in out
    assert "accuracy, macro_precision, macro_recall, macro_f1, log_loss, roc_auc, mae, rmse, r2" in out


def test_a_change_bound_against_the_metrics_direction_and_an_empty_threshold_are_errors(history):
    path = variant(history, "direction.yaml", "      thresholds:\n        log_loss: {max_drop: 0.1}")
    code, out = cli("validate", path)
    assert code == 2 and "unknown key 'max_drop'" in out and "did you mean 'max_rise'?" in out
    path = variant(history, "empty.yaml", "      thresholds:\n        accuracy: {}")
    code, out = cli("validate", path)
    assert code == 2 and "set at least one of min, max, max_drop" in out
    path = variant(history, "inverted.yaml", "      thresholds:\n        accuracy: {min: 0.9, max: 0.5}")
    code, out = cli("validate", path)
    assert code == 2 and "min 0.9 is above max 0.5" in out


def test_a_slice_column_missing_from_a_curated_schema_is_an_error_before_anything_runs(history):
    shutil.copy(os.path.join(os.path.dirname(PENGUINS), "..", "schema.yaml"), history.folder / "schema.yaml")
    text = pipeline_text("sliced", "      slices: [island, [island, islnd]]").replace(
        "  evaluator:\n",
        "  statistics: {type: statistics, inputs: {examples: ingest.examples}}\n"
        "  schema: {type: schema, inputs: {statistics: statistics.statistics}, params: {path: schema.yaml}}\n"
        "  evaluator:\n",
    )
    text = text.replace("      model: trainer.model\n", "      model: trainer.model\n      schema: schema.schema\n")
    path = history.folder / "sliced.yaml"
    path.write_text(text)
    code, out = cli("validate", str(path))
    assert code == 2
    assert f"{position(str(path), 'islnd')}: error: slice column 'islnd' is not in the schema" in out
    assert "did you mean 'island'?" in out


def test_a_slice_column_missing_from_the_data_fails_the_evaluator_naming_it_and_its_place(history):
    path = variant(history, "nocolumn.yaml", "      slices: [[island, islnd]]")
    code, out = cli("run", path)
    assert code == 1
    assert f"{position(path, 'islnd')}: slice column 'islnd' is not in split 'eval'" in out
    assert "did you mean 'island'?" in out and "Traceback" not in out


def test_a_threshold_on_a_metric_of_the_other_task_fails_the_evaluator_listing_this_tasks_metrics(history):
    path = variant(history, "othertask.yaml", "      thresholds:\n        rmse: {max: 10}")
    code, out = cli("validate", path)
    assert code == 0, out  # the task is the model's: unknown until it is trained
    code, out = cli("run", path)
    assert code == 1
    assert f"{position(path, 'rmse')}: thresholds.rmse: rmse is not a metric of a classification model" in out
    assert "its metrics: accuracy, macro_precision, macro_recall, macro_f1, log_loss, roc_auc" in out


def test_a_missing_split_and_transformed_examples_are_clear_errors(history):
    path = variant(history, "nosplit.yaml", "      split: test")
    code, out = cli("run", path)
    assert code == 1 and "split 'test' is not in input `examples`; it has: train, eval" in out
    path = variant(history, "transformed.yaml", "      slices: [island]", examples="transform.transformed_examples")
    code, out = cli("run", path)
    assert code == 1
    assert "the model cannot predict split 'eval' of input `examples`" in out
    assert "must be the RAW rows serving would send (e.g. ingest.examples)" in out


# -- regression -------------------------------------------------------------------------------------------------------


def test_a_regression_model_gets_mae_rmse_and_r2_from_sklearn(history):
    from sklearn import metrics as skm

    from headrace.components.model_package import load_model

    text = pipeline_text(
        "mass", "      slices: [species]\n      thresholds:\n        rmse: {max: 1000}\n        r2: {min: 0.5}"
    )
    text = text.replace('pattern: "_(mm|g)$"', 'pattern: "_mm$"').replace("exclude: [species]", "exclude: []")
    text = text.replace("params: {label: species, C: 1.0}", "params: {label: body_mass_g, task: regression}")
    path = history.folder / "mass.yaml"
    path.write_text(text)
    run = record(history.store, str(path))
    rows = eval_rows(history)
    rows = rows[rows["body_mass_g"].notna()]
    predicted = load_model(run.model.uri).predict(rows)
    found = run.metrics()
    values, y = found["model"]["metrics"], rows["body_mass_g"].to_numpy(dtype=float)
    assert found["task"] == "regression" and found["rows"]["without_label"] == found["rows"]["read"] - len(rows)
    assert values["mae"] == pytest.approx(skm.mean_absolute_error(y, predicted))
    assert values["rmse"] == pytest.approx(skm.root_mean_squared_error(y, predicted))
    assert values["r2"] == pytest.approx(skm.r2_score(y, predicted))
    assert "confusion_matrix" not in found["model"]
    assert run.blessing()["blessed"] is True
    assert [s["columns"] for s in found["slices"]] == [["species"]]
