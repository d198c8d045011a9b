"""A real trained model for tests of what consumes one (evaluator, pusher), independent of the trainer component.

``train`` is a user component: it fits a scikit-learn pipeline on a real
transform output and packages it with ``model_package.save_model``, so the
Model artifact is exactly what the trainer writes (the TransformGraph inside,
raw rows in). Wire it in a test pipeline as ``type: tests.models:train``.
``C`` below 0.001 makes a model that predicts little more than the majority
class: a model that fails its thresholds.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from headrace.components import Examples, Model, Output, TransformGraph, component


def fit_and_save(
    path: str,
    examples: Examples,
    transform_graph_uri: str,
    raw_examples: Examples,
    *,
    label: str,
    task: str = "classification",
    C: float = 1.0,
    drop: list[str] | None = None,
) -> Any:
    """Fit on the transformed train split, save the packaged model at ``path``; the PackageInfo."""
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.pipeline import make_pipeline

    from headrace.components.model_package import save_model

    train = examples.to_pandas("train")
    train = train[train[label].notna()]
    features = [c for c in train.columns if c != label and c not in (drop or [])]
    x, y = train[features].to_numpy(dtype=float), train[label].to_numpy()
    if task == "classification":
        estimator = make_pipeline(SimpleImputer(), LogisticRegression(C=C, max_iter=1000))
    else:
        estimator = make_pipeline(SimpleImputer(), Ridge(alpha=1.0 / C))
    estimator.fit(x, y)
    return save_model(
        path,
        estimator,
        transform_graph_uri,
        label=label,
        task=task,
        features=features,
        input_example=raw_examples.to_pandas("train").head(5),
        classes=list(estimator.classes_) if task == "classification" else None,
    )


@component(requires=("scikit-learn",))
def train(
    examples: Examples,
    transform_graph: TransformGraph,
    raw_examples: Examples,
    model: Output[Model],
    label: str = "species",
    task: str = "classification",
    C: float = 1.0,
    drop: list[str] | None = None,
) -> None:
    info = fit_and_save(model.uri, examples, transform_graph.uri, raw_examples, label=label, task=task, C=C, drop=drop)
    model.properties.update({"label": info.label, "task": info.task, "classes": info.classes})


# -- models made without a pipeline, for component-level tests (infra validator, pusher) ------------------------------

REPO = Path(__file__).resolve().parents[1]
PENGUINS = REPO / "examples" / "penguin" / "data" / "penguins.csv"
MEASUREMENTS = {"type": "numeric", "pattern": "_(mm|g)$"}
OPS = [
    {"fill_missing": {"select": MEASUREMENTS, "strategy": "mean"}},
    {"scale_to_z_score": {"select": MEASUREMENTS}},
    {"compute_and_apply_vocabulary": {"select": {"type": "categorical", "exclude": ["species"]}}},
]
TRAINING_COMPONENTS = f"""  ingest:
    type: ingest
    params: {{source: data/penguins.csv, splits: {{train: 8, eval: 2}}}}
  transform:
    type: transform
    inputs: {{examples: ingest.examples}}
    params: {{ops: {json.dumps(OPS)}}}
  trainer:
    type: tests.models:train
    inputs: {{examples: transform.transformed_examples, transform_graph: transform.transform_graph,
             raw_examples: ingest.examples}}
"""
"""A pipeline file's components that train a penguin model (``data/penguins.csv``): append an evaluator, a pusher..."""


def penguin_examples(folder: Path) -> Examples:
    """The penguins as raw Examples: every fifth row eval, the rest train (the file is sorted by species)."""
    import pyarrow.csv as pacsv

    from tests.examples_files import write_examples

    table = pacsv.read_csv(PENGUINS, convert_options=pacsv.ConvertOptions(strings_can_be_null=True))
    eval_rows = [i for i in range(table.num_rows) if i % 5 == 4]
    train_rows = [i for i in range(table.num_rows) if i % 5 != 4]
    return write_examples(folder, {"train": [table.take(train_rows)], "eval": [table.take(eval_rows)]})


def fit_transform(examples: Examples, folder: Path) -> tuple[Examples, TransformGraph]:
    """The transform component run in this process on ``examples``, with ``OPS``."""
    import logging

    from headrace.components.contract import Context
    from headrace.components.transform.component import TransformComponent
    from headrace.components.transform.spec import TransformParameters

    ctx = Context(
        component="transform",
        inputs={"examples": examples, "schema": None},
        outputs={
            "transformed_examples": Examples(uri=str(folder / "transformed")),
            "transform_graph": TransformGraph(uri=str(folder / "graph")),
        },
        params=TransformParameters.model_validate({"ops": OPS, "engine": "in_process"}),
        log=logging.getLogger("tests.models"),
    )
    TransformComponent().run(ctx)
    return ctx.outputs["transformed_examples"], ctx.outputs["transform_graph"]  # type: ignore[return-value]


def penguin_model(folder: Path, C: float = 1.0) -> tuple[Model, Examples]:
    """A packaged penguin classifier at ``folder/model`` and the raw Examples it was trained on."""
    raw = penguin_examples(folder / "raw")
    transformed, graph = fit_transform(raw, folder / "transform")
    path = str(folder / "model")
    info = fit_and_save(path, transformed, graph.uri, raw, label="species", C=C)
    return Model(uri=path, properties={"label": info.label, "task": info.task, "classes": info.classes}), raw
