"""One training: read the contract's inputs, call the user's function, check what it returned, package it.

The order matters to a user who waits: everything that can be wrong with
the inputs or the parameters (the label, the splits, ONNX packages) is
checked *before* the user's code spends minutes training.
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from headrace.components.artifacts import Examples, KerasModel, Schema, TransformGraph
from headrace.components.contract import ComponentError, Context
from headrace.components.paths import is_uri
from headrace.components.suggestions import did_you_mean
from headrace.components.trainer.context import Split, TrainerContext
from headrace.components.trainer.spec import TrainerParameters
from headrace.components.trainer.user_module import UserModule

CHECK_ROWS = 10_000
"""Raw eval rows an ``export: tflite`` file is checked on (the first ones)."""


_ONE_TRAINING_AT_A_TIME = threading.Lock()
"""Training seeds process-wide generators (Python's, NumPy's, Keras's) and Keras resets its global session: two
trainers in sibling threads of the local runner would draw from each other's seeds, so they take turns."""


def run_trainer(ctx: Context[TrainerParameters]) -> None:
    base = ctx.optional_input("base_model", KerasModel)
    if base is not None:
        ctx.log.info("base model: %s (imported from %s)", base.file, base.properties.get("source"))
    if not _ONE_TRAINING_AT_A_TIME.acquire(blocking=False):
        ctx.progress("waiting for another trainer of this run to finish (training seeds process-wide generators)")
        _ONE_TRAINING_AT_A_TIME.acquire()
    try:
        with local_copy(base.file if base is not None else None) as base_model:
            _train(ctx, base_model)
    finally:
        _ONE_TRAINING_AT_A_TIME.release()


def _train(ctx: Context[TrainerParameters], base_model: str | None) -> None:
    params = ctx.params
    examples = ctx.input("examples", Examples)
    raw = ctx.optional_input("raw_examples", Examples)
    out = ctx.outputs["model"]
    columns = _checked_inputs(ctx, examples)
    labels = examples.to_table(params.train_split, columns=[params.label]).column(params.label)
    eval_labels = examples.to_table(params.eval_split, columns=[params.label]).column(params.label)
    unlabelled = {params.train_split: labels.null_count, params.eval_split: eval_labels.null_count}
    for name, count in unlabelled.items():
        if count:
            ctx.log.warning("%d rows of split %s have no %s: they are left out", count, name, params.label)

    from headrace.components.trainer.task import class_labels, label_values, settle_task, task_of_label

    features = [c for c in columns if c != params.label]
    guessed = params.task if params.task != "auto" else task_of_label(labels, params.label)
    label_classes = label_values(labels, eval_labels) if guessed == "classification" else None
    user = UserModule(ctx.resolve_path(params.module), params.entrypoint)
    if params.distribution is None:  # else the workers seed theirs
        seed_generators(params.seed)
    split_options: dict[str, Any] = {
        "classes": label_classes,
        "seed": params.seed,
        "transform_graph": ctx.input("transform_graph", TransformGraph).uri,
    }
    augment = _checked_augment(ctx)
    train = Split(examples, params.train_split, features, params.label, augment=augment, **split_options)
    evaluation = Split(examples, params.eval_split, features, params.label, **split_options)
    trainer_ctx = TrainerContext(
        train=train,
        eval=evaluation,
        features=list(features),
        label=params.label,
        task=guessed,
        hyperparameters=dict(params.hyperparameters),
        seed=params.seed,
        schema=ctx.optional_input("schema", Schema),
        classes=label_classes,
        log=ctx.log,
        base_model=base_model,
        _on_metric=ctx.metrics.log,
    )
    ctx.progress(f"training: {user.place} {params.entrypoint}(ctx)")
    started = time.perf_counter()
    if params.distribution is None:
        with fit_progress(ctx.progress, ctx.log):
            estimator = user.call(trainer_ctx)
    else:  # in fresh processes under tf.distribute; the chief's Keras model comes back
        from headrace.components.trainer.distributed import train_distributed

        estimator = train_distributed(ctx, trainer_ctx, user)
    fit_seconds = time.perf_counter() - started
    flavor = checked_model(estimator, user)
    if params.export == "tflite" and flavor != "keras":
        raise ComponentError(
            f"{_at(ctx, 'export')}export: tflite converts Keras models; {user.place}: {params.entrypoint} returned "
            f"a {flavor} model ({type(estimator).__name__}): set export: onnx for a scikit-learn model, or "
            "export: none"
        )
    task = settle_task(params.task, guessed, estimator, f"{user.place}: {params.entrypoint}")
    used = model_features(estimator, flavor, features, columns, user)
    classes = class_labels(estimator, label_classes or label_values(labels)) if task == "classification" else None

    ctx.progress("measuring the fit")
    from headrace.components.model_package import PackageInfo
    from headrace.components.trainer.training_metrics import fit_metrics

    measured = PackageInfo(params.label, task, flavor, features=used, raw_columns=[], classes=classes)
    metrics: dict[str, float] = {"fit_seconds": fit_seconds}
    for split in (train, evaluation):
        split.features = used
        metrics.update(fit_metrics(estimator, measured, split, ctx.log))
    metrics.update(rows_train=train.num_rows, rows_eval=evaluation.num_rows)
    for key, value in metrics.items():
        if key not in trainer_ctx.metrics:  # what the user logged under the same name stands
            ctx.metrics.log(key, value)

    ctx.progress("saving the model")
    info, exported = _package(ctx, estimator, task, used, classes, user)
    if params.export == "tflite":
        figures = tflite_metrics(exported)
        metrics.update(figures)
        for key, value in figures.items():
            ctx.metrics.log(key, value)
    out.properties.update(
        {
            "label": info.label,
            "task": info.task,
            "classes": info.classes,
            "flavor": info.flavor,
            "features": info.features,
            "raw_columns": info.raw_columns,
            "required_columns": info.required_columns,
            "estimator": f"{type(estimator).__module__}.{type(estimator).__qualname__}",
            "seed": params.seed,
            "metrics": {**metrics, **trainer_ctx.metrics},
            "input_example": "raw_examples" if raw is not None else "typical row",
            "export": exported or None,
            "summary": _summary(estimator, info, metrics, exported),
        }
    )
    ctx.log.info("trained %s", out.properties["summary"])


def _at(ctx: Context[TrainerParameters], name: str) -> str:
    return f"{ctx.place(name)}: "


def _checked_augment(ctx: Context[TrainerParameters]) -> dict[str, Any] | None:
    """``augment`` as the train split applies it; an error now when the examples have no image column to change."""
    if ctx.params.augment is None:
        return None
    from headrace.components.transform.graph import FittedTransform

    chains = FittedTransform.load(ctx.input("transform_graph", TransformGraph).uri).image_chains()
    if not chains:
        raise ComponentError(
            f"{_at(ctx, 'augment')}augment changes images, and the transformed examples have no image column "
            "(one a transform op such as decode_image decodes): remove augment, or decode the image column in the "
            "transform"
        )
    return ctx.params.augment.model_dump()


def _checked_inputs(ctx: Context[TrainerParameters], examples: Examples) -> list[str]:
    """The transformed examples' columns, once the splits, the label and the export's packages are checked."""
    params = ctx.params
    for name in ("train_split", "eval_split"):
        split = getattr(params, name)
        if split not in examples.splits:
            hint = did_you_mean(split, examples.splits) or f"it has: {', '.join(examples.splits)}"
            raise ComponentError(f"{_at(ctx, name)}the examples have no split {split!r}; {hint}")
    columns = list(examples.dataset(params.train_split).schema.names)
    if params.label not in columns:
        hint = did_you_mean(params.label, columns) or f"columns: {', '.join(columns)}"
        raise ComponentError(
            f"{_at(ctx, 'label')}the transformed examples have no label column {params.label!r}; {hint}"
        )
    if params.export == "onnx":
        from headrace.components.trainer.onnx_packages import INSTALL, missing_onnx_packages

        missing = missing_onnx_packages()
        if missing:
            raise ComponentError(f"{_at(ctx, 'export')}export: onnx needs {' and '.join(missing)}: {INSTALL}")
    if params.export == "tflite":
        from headrace.components.tensorflow import missing_tflite_packages

        missing = missing_tflite_packages()
        if missing:
            raise ComponentError(
                f"{_at(ctx, 'export')}export: tflite needs {' and '.join(missing)}: pip install 'headrace[tensorflow]'"
            )
        raw = ctx.optional_input("raw_examples", Examples)
        if params.quantize == "int8" and (raw is None or params.train_split not in raw.splits):
            raise ComponentError(
                f"{_at(ctx, 'quantize')}quantize: int8 calibrates on raw train rows, and there are none: give the "
                f"trainer raw_examples (the ingest's examples) with a {params.train_split} split, or set "
                "quantize: dynamic"
            )
    if is_uri(params.module):
        raise ComponentError(f"{_at(ctx, 'module')}the training module must be a local file, not {params.module}")
    return columns


def _package(
    ctx: Context[TrainerParameters],
    estimator: Any,
    task: str,
    features: list[str],
    classes: list[Any] | None,
    user: UserModule,
) -> tuple[Any, dict[str, Any]]:
    """Save the MLflow model (and the ONNX or TFLite export) into the Model output; its PackageInfo and what was
    exported."""
    from headrace.components.model_package import save_model
    from headrace.components.trainer.input_example import ROWS, raw_rows, typical_rows
    from headrace.components.transform.graph import FittedTransform

    params = ctx.params
    examples = ctx.input("examples", Examples)
    graph = ctx.input("transform_graph", TransformGraph)
    raw = ctx.optional_input("raw_examples", Examples)
    fitted = FittedTransform.load(graph.uri)
    raw_columns = [f.name for f in fitted.input_schema if f.name != params.label]
    if raw is not None:
        example = raw_rows(raw, params.train_split, raw_columns)
    else:
        example = typical_rows(fitted, raw_columns, examples.dataset(params.train_split).head(ROWS))
    exported: dict[str, Any] = {}
    with local_directory(ctx.outputs["model"].uri) as target:
        with user.pickled_by_value():
            info = save_model(
                target,
                estimator,
                graph.uri,
                label=params.label,
                task=task,
                features=features,
                input_example=example,
                classes=classes,
            )
        if params.export == "onnx":
            ctx.progress("exporting to ONNX")
            from headrace.components.trainer.onnx_export import SAMPLE_ROWS, OnnxExportError, export_onnx

            sample = examples.dataset(params.train_split).head(SAMPLE_ROWS, columns=features)
            try:
                exported = export_onnx(target, estimator, fitted, info, example, sample)
            except OnnxExportError as exc:
                raise OnnxExportError(f"{_at(ctx, 'export')}{exc}") from exc
        if params.export == "tflite":
            ctx.progress(f"exporting to TFLite (quantize: {params.quantize})")
            exported = _export_tflite(ctx, target, estimator, fitted, info, example)
    return info, exported


def _export_tflite(
    ctx: Context[TrainerParameters], target: str, estimator: Any, fitted: Any, info: Any, example: Any
) -> dict[str, Any]:
    """``export: tflite``, checked on the raw eval rows (the input example's rows without raw_examples)."""
    import pyarrow as pa

    from headrace.components.model_package import PackagedModel
    from headrace.components.tensorflow.tflite_export import TFLiteExportError, export_tflite, sample_indices

    params = ctx.params
    raw = ctx.optional_input("raw_examples", Examples)
    columns = list(example.columns)
    labels = train_rows = None
    if raw is not None and params.eval_split in raw.splits:
        labelled = [*columns, params.label] if params.label in raw.dataset(params.eval_split).schema.names else columns
        rows = raw.dataset(params.eval_split).head(CHECK_ROWS, columns=labelled)
        if params.label in rows.column_names:
            labels = rows.column(params.label).to_pylist()
            rows = rows.drop_columns([params.label])
        checked_on = f"raw_examples {params.eval_split}"
    else:
        schema = pa.schema([fitted.input_schema.field(c) for c in columns])
        rows = pa.Table.from_pandas(example, schema=schema, preserve_index=False)
        checked_on = "input example"
    if raw is not None and params.train_split in raw.splits:
        split = raw.dataset(params.train_split)
        train_rows = split.take(sample_indices(split.count_rows()), columns=columns)
    try:
        exported = export_tflite(
            PackagedModel(info, fitted, estimator), target, rows, params.quantize, labels=labels, train_rows=train_rows
        )
    except TFLiteExportError as exc:
        raise TFLiteExportError(f"{_at(ctx, 'export')}{exc}") from exc
    if params.quantize != "none" and exported.get("class_agreement", 1.0) < 0.99:
        ctx.log.warning(
            "quantize: %s: the TFLite file predicts another class than the Keras model on %.1f%% of %d rows: "
            "int8 activations lose the small inputs next to large ones (scale every input in the transform), "
            "or set quantize: none",
            params.quantize,
            100 * (1 - exported["class_agreement"]),
            exported["rows"],
        )
    plain = exported.get("float", {})
    if "accuracy" in exported and "accuracy" in plain:
        ctx.log.info(
            "TFLite on %d eval rows: float %d B, accuracy %.4f; int8 %d B, accuracy %.4f (Keras %.4f)",
            exported["rows"],
            plain["size_bytes"],
            plain["accuracy"],
            exported["size_bytes"],
            exported["accuracy"],
            exported["keras_accuracy"],
        )
    return {**exported, "checked_on": checked_on}


def tflite_metrics(exported: dict[str, Any]) -> dict[str, float]:
    """The TFLite export's figures as trainer metrics: its size, and how far it is from the Keras model."""
    figures = {"tflite_size_bytes": exported["size_bytes"], "tflite_max_difference": exported["max_difference"]}
    for key in ("class_agreement", "accuracy", "keras_accuracy"):
        if key in exported:
            figures[f"tflite_{key}"] = exported[key]
    for key in ("size_bytes", "accuracy", "max_difference"):  # quantize: int8 checks the float file too
        if key in exported.get("float", {}):
            figures[f"tflite_float_{key}"] = exported["float"][key]
    return {k: float(v) for k, v in figures.items()}


def _summary(estimator: Any, info: Any, metrics: dict[str, float], exported: dict[str, Any]) -> str:
    """``LogisticRegression (sklearn), classification of species (3 classes); eval_accuracy=0.9625``: for ``show``."""
    kind = f"{info.task} of {info.label}" + (f" ({len(info.classes)} classes)" if info.classes else "")
    scores = [f"{k}={v:.4g}" for k, v in metrics.items() if k.startswith("eval_") and not k.startswith("eval_rows")]
    text = f"{type(estimator).__name__} ({info.flavor}), {kind} on {len(info.features)} features"
    text += f"; {', '.join(scores)}" if scores else ""
    return text + (f"; {exported['path']}" if exported else "")


def seed_generators(seed: int) -> None:
    """Seed Python's and NumPy's global generators, and PyTorch's / TensorFlow's when the user's code loaded them."""
    import numpy as np

    random.seed(seed)
    np.random.seed(seed)
    if "torch" in sys.modules:
        sys.modules["torch"].manual_seed(seed)
    if "keras" in sys.modules:  # Keras 3's own seed covers TensorFlow's, its layers' initialisers and dropout
        keras = sys.modules["keras"]
        keras.backend.clear_session()  # layer names as in a fresh process (a name is part of the saved model)
        keras.utils.set_random_seed(seed)
    elif "tensorflow" in sys.modules:
        sys.modules["tensorflow"].random.set_seed(seed)


def fit_progress(progress: Callable[[str], None], log: logging.Logger) -> contextlib.AbstractContextManager[None]:
    """While entered, each Keras ``fit`` tells ``progress`` its epochs and logs them; nothing without Keras.

    Called once the user's module is imported: Keras is in ``sys.modules`` when that module (or ``import
    tensorflow``, which imports Keras) uses it, and only then is the TensorFlow path imported here.
    """
    if sys.modules.get("keras") is None:  # None: an import of it failed, or was blocked
        return contextlib.nullcontext()
    from headrace.components.tensorflow.fit_progress import reported_fits

    return reported_fits(progress, log)


def checked_model(result: Any, user: UserModule) -> str:
    """The MLflow flavor of what the entrypoint returned, or an error saying what it returned and what is expected."""
    from headrace.components.model_package import ModelPackageError, estimator_flavor

    said = f"{user.place}: {user.entrypoint}"
    if result is None:
        raise ComponentError(
            f"{said} returned None; return the fitted model (e.g. `return model.fit(X, y)`), from any library "
            "MLflow has a flavor for (scikit-learn, XGBoost, LightGBM, CatBoost, Keras, PyTorch, statsmodels)"
        )
    try:
        flavor = estimator_flavor(result)
    except ModelPackageError as exc:
        raise ComponentError(f"{said} returned {_described(result)}, which is not a model: {exc}") from None
    if flavor == "sklearn":
        from sklearn.exceptions import NotFittedError
        from sklearn.utils.validation import check_is_fitted

        try:
            check_is_fitted(result)
        except NotFittedError:
            raise ComponentError(
                f"{said} returned a {type(result).__name__} that is not fitted; call .fit(X, y) before returning it"
            ) from None
        except TypeError:
            pass  # not an estimator check_is_fitted understands; saving will tell
    if flavor == "keras":
        from headrace.components.keras_predict import check_trained

        check_trained(result, said)
    return flavor


def _described(value: Any) -> str:
    text = repr(value)
    text = text if len(text) <= 80 else text[:77] + "..."
    return f"a {type(value).__module__}.{type(value).__qualname__} ({text})"


def model_features(estimator: Any, flavor: str, features: list[str], columns: list[str], user: UserModule) -> list[str]:
    """The columns the model takes: those it was fitted on by name (``feature_names_in_``; a Keras model's
    named inputs), else every feature."""
    if flavor == "keras":
        from headrace.components.keras_predict import model_features as keras_features

        return keras_features(estimator, features, f"{user.place}: {user.entrypoint}")
    named = getattr(estimator, "feature_names_in_", None)
    if named is None:
        return features
    named = [str(n) for n in named]
    unknown = [n for n in named if n not in columns]
    if unknown:
        raise ComponentError(
            f"{user.place}: the model was fitted on column(s) the transformed examples do not have: "
            f"{', '.join(unknown)}; fit it on columns of ctx.train.to_pandas()"
        )
    return named


@contextlib.contextmanager
def local_copy(uri: str | None) -> Iterator[str | None]:
    """A local path of the file at ``uri``: ``uri`` itself, or a scratch copy of a ``gs://``/``s3://`` file."""
    if uri is None or not is_uri(uri):
        yield uri
        return
    from headrace.components.files import copy

    scratch = tempfile.mkdtemp(prefix="headrace-base-model-")
    try:
        local = os.path.join(scratch, uri.rstrip("/").rpartition("/")[2])
        copy(uri, local)
        yield local
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


@contextlib.contextmanager
def local_directory(uri: str) -> Iterator[str]:
    """A local folder for ``uri``'s content: ``uri`` itself, or a scratch folder uploaded when the block succeeds."""
    if not is_uri(uri):
        os.makedirs(os.path.dirname(os.path.abspath(uri)), exist_ok=True)
        if os.path.isdir(uri) and not os.listdir(uri):
            os.rmdir(uri)  # save_model wants to create it
        yield uri
        return
    import pyarrow.fs as pafs

    from headrace.components.files import filesystem

    scratch = tempfile.mkdtemp(prefix="headrace-model-")
    try:
        yield os.path.join(scratch, "model")
        fs, path = filesystem(uri)
        fs.create_dir(path, recursive=True)
        pafs.copy_files(
            os.path.join(scratch, "model"), path, source_filesystem=pafs.LocalFileSystem(), destination_filesystem=fs
        )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
