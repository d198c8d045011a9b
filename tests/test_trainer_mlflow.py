"""The trained model in MLflow: a logged model of the trainer's run, with its data and metrics, loadable by id."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.projects import cli
from tests.trainer_projects import write_training_project

pytestmark = pytest.mark.timeout(300)


EVALUATOR = """\
  evaluator:
    type: evaluator
    inputs: {model: trainer.model, examples: ingest.examples}
"""


def mirrored(tmp_path: Path, run_id: str, timeout: float = 120) -> dict:
    path = tmp_path / "runs" / "training" / "runs" / run_id / "mlflow.json"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and (status := json.loads(path.read_text()))["state"] != "running":
            return status
        time.sleep(0.2)
    raise AssertionError(f"the mirror recorded nothing final in {path}")


def test_the_model_is_an_mlflow_logged_model_of_the_trainer_run(tmp_path: Path) -> None:
    import mlflow.pyfunc
    import pandas as pd
    from mlflow import MlflowClient
    from mlflow.entities import LoggedModelStatus

    from headrace.metadata.store import MetadataStore
    from headrace.pipelines.loader import load_pipeline

    pipeline = write_training_project(str(tmp_path))
    with open(pipeline, "a") as f:
        f.write(EVALUATOR + "mlflow: {experiment: training}\n")
    code, out = cli("run", pipeline, "-q")
    assert code == 0, out
    store = MetadataStore(load_pipeline(pipeline).metadata_url)
    run_id = store.list_runs(limit=1)[0].id
    status = mirrored(tmp_path, run_id)
    assert status["state"] == "mirrored", status
    uri = f"sqlite:///{tmp_path / 'runs' / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri)
    experiment = status["experiment_id"]
    (model,) = client.search_logged_models([experiment])
    trainer = next(
        r for r in client.search_runs([experiment]) if r.info.run_name == "trainer" and r.data.tags["headrace.run_id"]
    )
    assert model.source_run_id == trainer.info.run_id  # made by the trainer's run
    assert model.status == LoggedModelStatus.READY
    assert model.name == "trainer" and model.model_type == "classification"
    assert model.params["hyperparameters.trees"] == "10" and model.params["module"] == "model.py"
    assert model.tags["headrace.uri"] == trainer.data.tags["headrace.output.model"]
    assert [o.model_id for o in client.get_run(trainer.info.run_id).outputs.model_outputs] == [model.model_id]
    # its training metrics, each on the dataset it was measured on: the trainer's input
    metrics = {m.key: m for m in model.metrics}
    assert metrics["eval_accuracy"].value > 0.85
    assert metrics["eval_accuracy"].dataset_name == "transform.transformed_examples"
    read = {d.dataset.name for d in client.get_run(trainer.info.run_id).inputs.dataset_inputs}
    assert "transform.transformed_examples" in read
    # the evaluator's metrics are the model's too, on the raw examples it judged the model on
    assert metrics["accuracy"].dataset_name == "ingest.examples" and metrics["accuracy"].value > 0.85
    evaluator = next(r for r in client.search_runs([experiment]) if r.info.run_name == "evaluator")
    assert metrics["accuracy"].run_id == evaluator.info.run_id
    assert [i.model_id for i in client.get_run(evaluator.info.run_id).inputs.model_inputs] == [model.model_id]
    # and it is the model itself: raw rows in, species out, loaded from the tracking store by its id
    mlflow.set_tracking_uri(uri)
    loaded = mlflow.pyfunc.load_model(f"models:/{model.model_id}")
    rows = pd.DataFrame(
        [
            {
                "island": "Biscoe",
                "bill_length_mm": 47.0,
                "bill_depth_mm": 14.5,
                "flipper_length_mm": 215,
                "body_mass_g": 5200,
                "sex": None,
                "year": 2008,
            }
        ]
    )
    assert list(loaded.predict(rows)) == ["Gentoo"]
    # the next run's trainer is a cache hit: the same model, found again and linked, not logged twice
    code, out = cli("run", pipeline, "-q")
    assert code == 0, out
    run_ids = [r.id for r in store.list_runs(limit=1)]
    assert mirrored(tmp_path, run_ids[0])["state"] == "mirrored"
    assert [m.model_id for m in client.search_logged_models([experiment])] == [model.model_id]
    cached = next(
        r
        for r in client.search_runs([experiment])
        if r.info.run_name == "trainer" and r.data.tags["headrace.run_id"] == run_ids[0]
    )
    assert cached.data.tags["headrace.state"] == "cached"
    assert [o.model_id for o in client.get_run(cached.info.run_id).outputs.model_outputs] == [model.model_id]
    again = client.get_logged_model(model.model_id)
    assert [m.run_id for m in again.metrics if m.key == "accuracy"] == [evaluator.info.run_id]  # not twice
