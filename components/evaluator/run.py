"""One evaluation: load the models, stream the eval split through them, compute, judge, write both outputs.

Mistakes in what the pipeline file asks for (a slice column the data lacks, a
threshold on a metric of the other task, a split that does not exist) fail
the evaluator with the place in the file and the fix. A model that does not
pass its thresholds is not a failure: the evaluation and the blessing (with
``blessed: false`` and why) are written, and the run goes on for the pusher
to decline.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from headrace.components.artifacts import Examples, Model, ModelBlessing, ModelEvaluation
from headrace.components.contract import ComponentError, Context
from headrace.components.evaluator.collect import Collected, collect
from headrace.components.evaluator.metric_names import BY_TASK
from headrace.components.evaluator.metrics import MetricSet, classification_metrics, regression_metrics
from headrace.components.evaluator.slicing import groups
from headrace.components.evaluator.spec import EvaluatorParameters
from headrace.components.evaluator.thresholds import Verdict, judge
from headrace.components.evaluator.worst import WorstImages, image_column
from headrace.components.files import write_text
from headrace.components.suggestions import did_you_mean

FORMAT_VERSION = 1
NO_BASELINE = "no baseline (no earlier run of this pipeline has a blessed model, or `baseline` is not wired)"
HEADLINE = {"classification": ("accuracy", "macro_f1", "log_loss", "roc_auc"), "regression": ("mae", "rmse", "r2")}


@dataclass
class Loaded:
    """A packaged model and whether it gives probabilities."""

    model: Any
    probabilities: bool


def run_evaluation(ctx: Context[EvaluatorParameters]) -> None:
    from headrace.components.model_package import ModelPackageError

    params = ctx.params
    model_artifact = ctx.input("model", Model)
    examples = ctx.input("examples", Examples)
    try:
        model = _loaded(model_artifact.uri)
    except ModelPackageError as exc:
        raise ComponentError(f"input `model` ({model_artifact.uri}) cannot be loaded: {exc}") from None
    info = model.model.info
    _check_thresholds(ctx, info.task)
    _check_eval_data(ctx, examples, info.label)
    baseline, baseline_note = _baseline(ctx, info)
    slice_columns = sorted({c for slicing in params.slicings() for c in slicing})
    worst = _worst_images(ctx, examples, info)
    ctx.log.info("evaluating %s model (label %s) on split %s", info.task, info.label, params.split)
    try:
        collected = collect(
            examples.batches(params.split, batch_size=params.batch_size),
            label=info.label,
            model=model.model,
            with_probabilities=model.probabilities,
            baseline=baseline.model if baseline else None,
            baseline_probabilities=bool(baseline and baseline.probabilities),
            slice_columns=slice_columns,
            progress=lambda rows: ctx.progress(f"{rows:,} rows evaluated"),
            worst=worst,
        )
    except (ModelPackageError, ComponentError, ValueError, TypeError) as exc:
        raise ComponentError(
            f"the model cannot predict split {params.split!r} of input `examples`: {exc}. The examples must be the "
            "RAW rows serving would send (e.g. ingest.examples), not transformed ones"
        ) from None
    if collected.baseline_problem:
        ctx.log.warning("%s", collected.baseline_problem)
        baseline_note = collected.baseline_problem + "; judged without it"
    if len(collected.y_true) == 0:
        raise ComponentError(
            f"split {params.split!r} of input `examples` has no rows with a value of the label {info.label!r} "
            f"({collected.rows_read:,} rows read): there is nothing to evaluate on"
        )
    document = _document(ctx, model, baseline if collected.baseline is not None else None, baseline_note, collected)
    _write(ctx, document, collected.worst.thumbnails() if collected.worst is not None else None)


def _loaded(uri: str) -> Loaded:
    from headrace.components.model_package import load_model

    model = load_model(uri)
    classifier = model.info.task == "classification" and bool(model.classes)
    # a Keras classifier's scores are its probabilities (it has no predict_proba); others need predict_proba
    scores = model.info.flavor == "keras" or hasattr(model.estimator, "predict_proba")
    return Loaded(model, classifier and scores)


def _worst_images(ctx: Context[EvaluatorParameters], examples: Examples, info: Any) -> WorstImages | None:
    """A collector of the worst-classified images, when a classifier is evaluated on rows holding images."""
    params = ctx.params
    if info.task != "classification" or params.worst_images == 0:
        return None
    schema = examples.dataset(params.split).schema
    column = image_column(schema)
    if column is None:
        return None
    path_column = params.image_path_column if params.image_path_column in schema.names else None
    if path_column is None and "image_path_column" in params.model_fields_set:
        hint = did_you_mean(params.image_path_column, schema.names)
        raise ComponentError(
            f"{_at(ctx, 'image_path_column')}image_path_column {params.image_path_column!r} is not in split "
            f"{params.split!r} of input `examples` (columns: {', '.join(schema.names)}){'; ' + hint if hint else ''}"
        )
    if path_column is None:
        ctx.log.info(
            "the worst-classified images are named by row number: split %r has no column %r (image_path_column)",
            params.split,
            params.image_path_column,
        )
    return WorstImages(column, path_column, params.worst_images, info.classes)


def _at(ctx: Context[EvaluatorParameters], *path: str | int) -> str:
    return f"{ctx.place(*path)}: "


def _check_thresholds(ctx: Context[EvaluatorParameters], task: str) -> None:
    """Thresholds on metrics this task does not have: checked now that the model says its task."""
    available = BY_TASK.get(task, {})
    for metric, _ in ctx.params.thresholds.items():
        if metric not in available:
            raise ComponentError(
                f"{_at(ctx, 'thresholds', metric)}thresholds.{metric}: {metric} is not a metric of a {task} model; "
                f"its metrics: {', '.join(available)}"
            )


def _check_eval_data(ctx: Context[EvaluatorParameters], examples: Examples, label: str) -> None:
    """The split, the label and the slice columns, checked against the data before anything is predicted."""
    split = ctx.params.split
    if split not in examples.splits:
        raise ComponentError(
            f"{_at(ctx, 'split')}split {split!r} is not in input `examples`; it has: "
            f"{', '.join(examples.splits) or 'no splits'}"
        )
    names = examples.dataset(split).schema.names
    if label not in names:
        raise ComponentError(
            f"the model predicts {label!r}, but split {split!r} of input `examples` has no such column (columns: "
            f"{', '.join(names)}); wire the raw examples the model was trained from (e.g. ingest.examples)"
        )
    for path, column in ctx.params.missing_slice_columns(names):
        hint = did_you_mean(column, names)
        raise ComponentError(
            f"{_at(ctx, *path)}slice column {column!r} is not in split {split!r} of input "
            f"`examples` (columns: {', '.join(names)}){'; ' + hint if hint else ''}"
        )


def _baseline(ctx: Context[EvaluatorParameters], info: Any) -> tuple[Loaded | None, str]:
    """The baseline model when there is one it makes sense to compare with; else None and why not."""
    from headrace.components.model_package import ModelPackageError

    artifact = ctx.optional_input("baseline", Model)
    if artifact is None:
        return None, NO_BASELINE
    try:
        baseline = _loaded(artifact.uri)
    except ModelPackageError as exc:
        ctx.log.warning("the baseline model cannot be loaded: %s", exc)
        return None, f"the baseline model ({artifact.uri}) cannot be loaded ({exc})"
    theirs = baseline.model.info
    if (theirs.task, theirs.label) != (info.task, info.label):
        return None, (
            f"the baseline is a {theirs.task} model of {theirs.label!r}, this one a {info.task} model of "
            f"{info.label!r}: they cannot be compared"
        )
    return baseline, f"baseline: model {artifact.content_label}"


Outputs = tuple[Any, Any]  # one model's predicted labels and class probabilities (None without), row by row


def _metrics(task: str, y_true: Any, outputs: Outputs, classes: list[Any] | None, rows: Any = None) -> MetricSet:
    """Metrics of all rows (with per-class details and the confusion matrix), or of the ``rows`` of a slice."""
    labels, probabilities = outputs
    if rows is not None:
        y_true, labels = y_true[rows], labels[rows]
        probabilities = probabilities[rows] if probabilities is not None else None
    if task == "regression":
        return regression_metrics(y_true.astype(float), labels.astype(float))
    return classification_metrics(y_true, labels, probabilities, classes or [], detail=rows is None)


def _document(
    ctx: Context[EvaluatorParameters],
    model: Loaded,
    baseline: Loaded | None,
    baseline_note: str,
    collected: Collected,
) -> dict[str, Any]:
    params, info = ctx.params, model.model.info
    y_true = collected.y_true
    ours: Outputs = (collected.model.label_array(), collected.model.probability_array())
    theirs: Outputs | None = (
        (collected.baseline.label_array(), collected.baseline.probability_array())
        if baseline is not None and collected.baseline is not None
        else None
    )
    overall = _metrics(info.task, y_true, ours, info.classes)
    theirs_classes = baseline.model.info.classes if baseline is not None else None
    baseline_overall = _metrics(info.task, y_true, theirs, theirs_classes) if theirs is not None else None
    slices = []
    for slicing in params.slicings():
        found, omitted = groups(slicing, collected.columns)
        entries = []
        for group in found:
            mine = _metrics(info.task, y_true, ours, info.classes, group.rows)
            entry: dict[str, Any] = {
                "name": group.name,
                "values": dict(group.values),
                "rows": len(group.rows),
                "tiny": bool(len(group.rows) < params.min_slice_rows),
                "metrics": mine.values,
            }
            if mine.undefined:
                entry["undefined"] = mine.undefined
            if theirs is not None:
                entry["baseline"] = _metrics(info.task, y_true, theirs, theirs_classes, group.rows).values
            entries.append(entry)
        slices.append({"columns": list(slicing), "slices": entries, "omitted": omitted})
    verdict = judge(
        params.thresholds,
        overall.values,
        overall.undefined,
        baseline_overall.values if baseline_overall is not None else None,
        baseline_note if baseline is None else "",
    )
    model_artifact = ctx.input("model", Model)
    baseline_artifact = ctx.optional_input("baseline", Model)
    return {
        "format": FORMAT_VERSION,
        "task": info.task,
        "label": info.label,
        "split": params.split,
        "classes": info.classes,
        "headline": list(HEADLINE.get(info.task, ())),
        "rows": {
            "read": collected.rows_read,
            "evaluated": len(y_true),
            "without_label": collected.rows_without_label,
        },
        "min_slice_rows": params.min_slice_rows,
        "model": {"fingerprint": model_artifact.fingerprint, **overall.to_json()},
        "baseline": {
            "fingerprint": baseline_artifact.fingerprint if baseline_artifact else None,
            "used": baseline_overall is not None,
            "note": baseline_note,
            **(baseline_overall.to_json() if baseline_overall is not None else {}),
        },
        "slices": slices,
        **({"worst_images": collected.worst.to_json()} if collected.worst is not None else {}),
        "blessing": _verdict_json(verdict),
    }


def _verdict_json(verdict: Verdict) -> dict[str, Any]:
    return {
        "blessed": verdict.blessed,
        "summary": verdict.summary,
        "why": verdict.why,
        "checks": [c.to_json() for c in verdict.checks],
    }


def _write(
    ctx: Context[EvaluatorParameters], document: dict[str, Any], thumbnails: list[dict[str, Any]] | None
) -> None:
    """``metrics.json`` and ``evaluation.html`` (the worst images' ``thumbnails`` inline there, not in the JSON)."""
    from headrace.components.evaluator.report import render_evaluation_html

    evaluation = ctx.outputs["evaluation"]
    blessing = ctx.outputs["blessing"]
    assert isinstance(evaluation, ModelEvaluation) and isinstance(blessing, ModelBlessing)
    model_artifact = ctx.input("model", Model)
    write_text(evaluation.path("metrics.json"), json.dumps(document, indent=2, allow_nan=False) + "\n")
    write_text(
        evaluation.path("evaluation.html"), render_evaluation_html(document, model_artifact.content_label, thumbnails)
    )
    verdict = document["blessing"]
    baseline = document["baseline"]
    blessing_document = {
        "format": FORMAT_VERSION,
        "blessed": verdict["blessed"],
        "forced": False,
        "summary": verdict["summary"],
        "checks": verdict["checks"],
        "model_fingerprint": model_artifact.fingerprint,
        "baseline": {"fingerprint": baseline["fingerprint"], "used": baseline["used"], "note": baseline["note"]},
    }
    write_text(blessing.path("blessing.json"), json.dumps(blessing_document, indent=2, allow_nan=False) + "\n")
    blessing.properties.update(blessing_document)
    del blessing.properties["format"]
    if not verdict["blessed"]:
        blessing.properties["warnings"] = [verdict["why"]]  # the run's summary repeats these: it ends saying why
    values = document["model"]["metrics"]
    headline = [m for m in document["headline"] if values.get(m) is not None]
    shown = ", ".join(f"{m} {values[m]:.4g}" for m in headline)
    if baseline["used"]:
        theirs = baseline["metrics"]
        shown += " (baseline: " + ", ".join(f"{m} {theirs[m]:.4g}" for m in headline if theirs.get(m) is not None) + ")"
    evaluation.properties.update(
        {
            "task": document["task"],
            "label": document["label"],
            "split": document["split"],
            "rows": document["rows"]["evaluated"],
            "metrics": values,
            "baseline_metrics": baseline.get("metrics"),
            "slices": sum(len(s["slices"]) for s in document["slices"]),
            "summary": f"{shown} on {document['rows']['evaluated']:,} {document['split']} rows",
        }
    )
    for name, value in values.items():
        if value is not None:
            ctx.metrics.log(name, value)
    ctx.metrics.log("rows", document["rows"]["evaluated"])
    ctx.metrics.log("blessed", int(verdict["blessed"]))
    ctx.log.info("%s", verdict["why"] or verdict["summary"])
    ctx.progress(verdict["summary"])
