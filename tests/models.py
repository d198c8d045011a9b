"""A real trained model for tests of what consumes one (evaluator, pusher), independent of the trainer component.

``train`` is a user component: it fits a scikit-learn pipeline on a real
transform output and packages it with ``model_package.save_model``, so the
Model artifact is exactly what the trainer writes (the TransformGraph inside,
raw rows in). Wire it in a test pipeline as ``type: tests.models:train``.
``C`` below 0.001 makes a model that predicts little more than the majority
class: a model that fails its thresholds.
"""

from __future__ import annotations

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
