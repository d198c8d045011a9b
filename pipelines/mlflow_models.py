"""A trained Model artifact as an MLflow 3 logged model, linked to the trainer's run, its data and its metrics.

One logged model per Model artifact, found again by its ``headrace.artifact_id``
tag, so a replay or a cached trainer step creates no second one: a cached
step only links the existing model as its output too. The model directory
is already an MLflow model (``headrace.components.model_package``), so its
files become the logged model's artifacts and ``mlflow.pyfunc.load_model
("models:/<model id>")`` serves raw rows straight from the tracking store.
Training metrics are logged on the model with the dataset they came from
(the trainer's Examples input), which is how MLflow's model page shows
"metrics on dataset X". An execution that reads a ``model`` and writes a
ModelEvaluation (the evaluator) logs the model as its input and its metrics
on the model, on the examples it read, through :func:`link_evaluation`.

MLflow is imported inside the functions: only the background mirror loads this.
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Any

from headrace.components.paths import is_uri
from headrace.metadata.records import ArtifactRecord, ExecutionRecord

if TYPE_CHECKING:
    from mlflow import MlflowClient

MODEL_TYPE = "Model"
EVALUATION_TYPE = "ModelEvaluation"
ARTIFACT_TAG = "headrace.artifact_id"


def logged_model_id(client: MlflowClient, experiment: str, artifact_id: int | None) -> str | None:
    """The MLflow logged model mirroring headrace Model artifact ``artifact_id``, if it was mirrored (READY)."""
    from mlflow.entities import LoggedModelStatus

    if artifact_id is None:
        return None
    found = client.search_logged_models([experiment], filter_string=f"tags.`{ARTIFACT_TAG}` = '{artifact_id}'")
    ready = [m for m in found if m.status == LoggedModelStatus.READY]
    return ready[0].model_id if ready else None


def _forget_unfinished(client: MlflowClient, experiment: str, artifact_id: int | None) -> None:
    """Delete what an interrupted mirror left of this artifact's logged model (not READY), before logging it anew."""
    found = client.search_logged_models([experiment], filter_string=f"tags.`{ARTIFACT_TAG}` = '{artifact_id}'")
    for model in found:
        client.delete_logged_model(model.model_id)


def log_models(
    client: MlflowClient,
    experiment: str,
    mlflow_run: str,
    execution: ExecutionRecord,
    inputs: dict[str, ArtifactRecord],
    outputs: dict[str, ArtifactRecord],
) -> list[str]:
    """Each Model output as a logged model (created once), linked as an output of ``mlflow_run``; their ids.

    An evaluation's metrics are linked to the logged model of the ``model`` it read.
    """
    from mlflow.entities import LoggedModelOutput

    ids = []
    for artifact in outputs.values():
        if artifact.type != MODEL_TYPE:
            continue
        model_id = logged_model_id(client, experiment, artifact.id)
        if model_id is None:
            _forget_unfinished(client, experiment, artifact.id)
            model_id = _create(client, experiment, mlflow_run, execution, artifact, inputs)
        client.log_outputs(mlflow_run, [LoggedModelOutput(model_id, step=0)])
        ids.append(model_id)
    if any(a.type == EVALUATION_TYPE for a in outputs.values()):
        _link_evaluated_model(client, experiment, mlflow_run, execution, inputs)
    return ids


def _link_evaluated_model(
    client: MlflowClient,
    experiment: str,
    mlflow_run: str,
    execution: ExecutionRecord,
    inputs: dict[str, ArtifactRecord],
) -> None:
    """An evaluation of a model: its metrics go on the model's logged model, on the examples it read."""
    from mlflow.entities import LoggedModelInput

    from headrace.pipelines.mlflow_sync import examples_dataset

    model = inputs.get("model")
    model_id = logged_model_id(client, experiment, model.id) if model is not None else None
    if model_id is None:
        return  # the model's own run was not mirrored: nothing to link to
    client.log_inputs(mlflow_run, models=[LoggedModelInput(model_id)])
    examples = inputs.get("examples")
    metrics = {k: v for k, v in execution.metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    if metrics and execution.state == "complete":  # a cache hit measured nothing new: its run only reads the model
        dataset = examples_dataset(examples) if examples is not None and examples.type == "Examples" else None
        link_evaluation(client, model_id, metrics, run_id=mlflow_run, dataset=dataset)


def _create(
    client: MlflowClient,
    experiment: str,
    mlflow_run: str,
    execution: ExecutionRecord,
    artifact: ArtifactRecord,
    inputs: dict[str, ArtifactRecord],
) -> str:
    from headrace.pipelines.mlflow_sync import examples_dataset, flat_params

    props = artifact.properties
    tags = {
        ARTIFACT_TAG: str(artifact.id),
        "headrace.run_id": execution.run_id,
        "headrace.execution_id": str(execution.id),
        "headrace.uri": artifact.uri,
        "headrace.fingerprint": artifact.fingerprint or "",
        "headrace.label": str(props.get("label", "")),
        "headrace.estimator": str(props.get("estimator", "")),
    }
    model = client.create_logged_model(
        experiment,
        name=execution.component,
        source_run_id=mlflow_run,
        tags=tags,
        params=flat_params(execution.parameters),
        model_type=str(props.get("task") or "") or None,
    )
    try:
        if not is_uri(artifact.uri) and os.path.isdir(artifact.uri):
            client.log_model_artifacts(model.model_id, artifact.uri)
        training = next((a for a in inputs.values() if a.type == "Examples"), None)
        metrics = {k: v for k, v in (props.get("metrics") or {}).items() if isinstance(v, (int, float))}
        if metrics:
            dataset = examples_dataset(training) if training is not None else None
            link_evaluation(client, model.model_id, metrics, run_id=mlflow_run, dataset=dataset)
    except Exception:
        client.finalize_logged_model(model.model_id, "FAILED")
        raise
    client.finalize_logged_model(model.model_id, "READY")
    return str(model.model_id)


def link_evaluation(
    client: MlflowClient, model_id: str, metrics: dict[str, float], *, run_id: str, dataset: Any = None, step: int = 0
) -> None:
    """Log ``metrics`` on logged model ``model_id``, from run ``run_id``, measured on ``dataset`` (an MLflow Dataset).

    The hook for the evaluator's mirror: its child run, the evaluation
    metrics and the dataset it read (``mlflow_sync.examples_dataset``) go
    here with the id :func:`logged_model_id` finds for its ``model`` input.
    """
    from mlflow.entities import Metric

    when = int(time.time() * 1000)
    name = dataset.name if dataset is not None else None
    digest = dataset.digest if dataset is not None else None
    entries = [
        Metric(
            k[:250], float(v), when, step, model_id=model_id, dataset_name=name, dataset_digest=digest, run_id=run_id
        )
        for k, v in metrics.items()
    ]
    for start in range(0, len(entries), 1000):
        client.log_batch(run_id, metrics=entries[start : start + 1000])
