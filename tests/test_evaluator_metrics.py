"""The evaluator's parts on their own: metrics against sklearn, threshold lines, and what counts as blessed."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from sklearn import metrics as skm

from headrace.components.evaluator.collect import ColumnCodes
from headrace.components.evaluator.metrics import classification_metrics, regression_metrics
from headrace.components.evaluator.slicing import groups
from headrace.components.evaluator.spec import EvaluatorParameters, Thresholds
from headrace.components.evaluator.thresholds import judge
from headrace.metadata.store import MetadataStore
from tests.databases import publish

RNG = np.random.default_rng(7)


def test_binary_metrics_are_sklearns():
    y = RNG.choice(["no", "yes"], size=200)
    proba_yes = np.clip((y == "yes") * 0.6 + RNG.random(200) * 0.5, 0, 1)
    proba = np.stack([1 - proba_yes, proba_yes], axis=1)
    predicted = np.where(proba_yes > 0.5, "yes", "no")
    found = classification_metrics(y, predicted, proba, ["no", "yes"])
    assert found.values["roc_auc"] == pytest.approx(skm.roc_auc_score(y == "yes", proba_yes))
    assert found.values["log_loss"] == pytest.approx(skm.log_loss(y, proba, labels=["no", "yes"]))
    assert found.values["macro_f1"] == pytest.approx(skm.f1_score(y, predicted, average="macro"))
    assert found.confusion == {"labels": ["no", "yes"], "matrix": skm.confusion_matrix(y, predicted).tolist()}


def test_metrics_that_mean_nothing_on_some_rows_are_undefined_with_the_reason():
    one_class = classification_metrics(
        np.array(["a", "a"]), np.array(["a", "b"]), np.array([[0.9, 0.1], [0.4, 0.6]]), ["a", "b"]
    )
    assert one_class.values["roc_auc"] is None and "single class" in one_class.undefined["roc_auc"]
    assert one_class.values["accuracy"] == 0.5
    unseen = classification_metrics(
        np.array(["a", "c"]), np.array(["a", "b"]), np.array([[0.9, 0.1], [0.4, 0.6]]), ["a", "b"]
    )
    assert unseen.values["log_loss"] is None and "not trained on (c)" in unseen.undefined["log_loss"]
    assert unseen.confusion is not None and unseen.confusion["labels"] == ["a", "b", "c"]
    no_proba = classification_metrics(np.array(["a", "b"]), np.array(["a", "b"]), None, ["a", "b"])
    assert no_proba.values["log_loss"] is None and "no class probabilities" in no_proba.undefined["log_loss"]
    flat = regression_metrics(np.array([3.0, 3.0]), np.array([2.0, 4.0]))
    assert flat.values["r2"] is None and flat.values["mae"] == 1.0 and flat.values["rmse"] == 1.0


def test_the_confusion_matrix_has_every_class_never_predicted_or_absent_and_any_other_value_seen():
    classes = list(range(10))  # digits: 9 never occurs in these rows, 3 and 9 are never predicted
    y = np.array([0, 1, 2, 3, 3, 4, 5, 6, 7, 8])
    predicted = np.array([0, 1, 2, 2, 8, 4, 5, 6, 7, 8])
    found = classification_metrics(y, predicted, None, classes)
    assert found.confusion is not None and found.confusion["labels"] == classes
    matrix = np.array(found.confusion["matrix"])
    assert matrix.shape == (10, 10) and matrix.sum() == len(y)
    assert matrix[9].sum() == 0 and matrix[:, 9].sum() == 0 and matrix[:, 3].sum() == 0 and matrix[3, 8] == 1
    assert [c["class"] for c in found.per_class or []] == classes
    # a model that names no classes: the matrix still holds every value labelled or predicted
    bare = classification_metrics(np.array(["a", "b"]), np.array(["c", "b"]), None, [])
    assert bare.confusion == {"labels": ["a", "b", "c"], "matrix": [[0, 0, 1], [0, 1, 0], [0, 0, 0]]}


def test_slices_group_rows_by_values_with_null_last_across_batches():
    codes = {"island": ColumnCodes(), "sex": ColumnCodes()}
    for island, sex in ((["b", "a", None], ["m", None, "f"]), (["a", "a"], ["f", "m"])):
        codes["island"].add(pa.array(island))
        codes["sex"].add(pa.array(sex))
    found, omitted = groups(("island",), codes)
    assert [(g.name, g.rows.tolist()) for g in found] == [
        ("island=a", [1, 3, 4]),
        ("island=b", [0]),
        ("island=null", [2]),
    ]
    assert omitted == 0
    crossed, _ = groups(("island", "sex"), codes)
    assert [g.name for g in crossed] == [
        "island=a, sex=f",
        "island=a, sex=m",
        "island=a, sex=null",
        "island=b, sex=m",
        "island=null, sex=f",
    ]


def thresholds(**entries: dict) -> Thresholds:
    return EvaluatorParameters.model_validate({"thresholds": entries}).thresholds


def test_threshold_lines_pass_fail_or_are_not_checked_without_a_baseline():
    written = thresholds(accuracy={"min": 0.9, "max_drop": 0.01}, log_loss={"max_rise": 0.05})
    verdict = judge(written, {"accuracy": 0.95, "log_loss": 0.3}, {}, None, "no baseline (first model)")
    assert verdict.blessed
    assert [(c.kind, c.result) for c in verdict.checks] == [
        ("min", "pass"),
        ("max_drop", "not checked"),
        ("max_rise", "not checked"),
    ]
    assert "no baseline (first model), so the change threshold(s) were not checked" in verdict.summary
    verdict = judge(written, {"accuracy": 0.95, "log_loss": 0.3}, {}, {"accuracy": 0.97, "log_loss": 0.2}, "")
    assert not verdict.blessed
    drop, rise = verdict.checks[1], verdict.checks[2]
    assert (drop.result, drop.bound, drop.baseline) == ("fail", pytest.approx(0.96), 0.97)
    assert drop.text == "accuracy 0.95 dropped 0.02 from the baseline's 0.97 (max_drop 0.01: < 0.96)"
    assert rise.result == "fail" and rise.text.startswith("log_loss 0.3 rose 0.1 from the baseline's 0.2")
    assert verdict.summary == "NOT blessed: 2 of 3 threshold(s) fail (accuracy, log_loss)"
    assert verdict.why.startswith("NOT blessed: accuracy 0.95 dropped 0.02")


def test_a_value_on_its_bound_passes_and_an_undefined_metric_fails_saying_why():
    on_bound = judge(thresholds(accuracy={"max_drop": 0.1}), {"accuracy": 0.7}, {}, {"accuracy": 0.8}, "")
    assert on_bound.blessed  # 0.8 - 0.1 is 0.7000000000000001 in floating point
    undefined = judge(thresholds(roc_auc={"min": 0.5}), {"roc_auc": None}, {"roc_auc": "one class"}, None, "")
    assert not undefined.blessed and undefined.checks[0].text == "roc_auc is undefined (one class)"
    nothing = judge(Thresholds(), {"accuracy": 0.1}, {}, None, "")
    assert nothing.blessed and nothing.checks == [] and "no thresholds are set" in nothing.summary


def _evaluation(store: MetadataStore, pipeline: str, model: int, baseline: int | None, blessed: bool, tmp) -> None:
    run = store.create_run(pipeline, spec={}, pipeline_file="p.yaml", root=str(tmp))
    inputs = {"model": model, **({"baseline": baseline} if baseline else {})}
    execution = store.create_execution(
        run.id, "evaluator", "evaluator", "1", parameters={}, cache_key=None, cache_inputs={}, inputs=inputs
    )
    uri = str(tmp / f"blessing-{execution.id}")
    publish(
        store, execution.id, {"blessing": {"type": "ModelBlessing", "uri": uri, "properties": {"blessed": blessed}}}
    )


def test_a_blessing_blesses_the_model_it_judged_in_its_own_pipeline_only(store: MetadataStore, tmp_path):
    run = store.create_run("a", spec={}, pipeline_file="a.yaml", root=str(tmp_path))
    trainer = store.create_execution(run.id, "trainer", "trainer", "1", parameters={}, cache_key=None, cache_inputs={})
    models = publish(
        store,
        trainer.id,
        {n: {"type": "Model", "uri": str(tmp_path / n)} for n in ("old", "new")},
    )
    old, new = models["old"], models["new"]
    _evaluation(store, "a", new.id, old.id, True, tmp_path)  # new blessed against an unblessed baseline
    assert store.is_blessed(new) and store.is_blessed(new, pipeline="a")
    assert not store.is_blessed(old)  # a baseline is not what a blessing judges
    assert not store.is_blessed(new, pipeline="b")  # a blessing of pipeline a says nothing in pipeline b
    _evaluation(store, "b", old.id, None, True, tmp_path)
    assert store.is_blessed(old, pipeline="b") and not store.is_blessed(old, pipeline="a")


def test_a_slicing_over_too_many_values_keeps_the_largest_slices_and_counts_the_rest(monkeypatch):
    monkeypatch.setattr("headrace.components.evaluator.slicing.MAX_SLICES", 2)
    codes = {"id": ColumnCodes()}
    codes["id"].add(pa.array(["x", "y", "y", "z", "z", "z"]))
    found, omitted = groups(("id",), codes)
    assert [(g.name, len(g.rows)) for g in found] == [("id=y", 2), ("id=z", 3)] and omitted == 1
