"""The trainer: user code in, one MLflow model that takes raw rows out; reproducible, exportable, and clear when wrong."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pyarrow as pa
import pytest

from headrace.components.artifacts import Examples
from tests.examples_files import write_examples
from tests.projects import cli, latest_outputs
from tests.trainer_projects import write_training_project

pytestmark = pytest.mark.timeout(300)

# serving rows a model must take: nulls everywhere a value can be missing, an island it never saw
ODD_ROWS = [
    {
        "island": "Anvers",
        "bill_length_mm": 47.0,
        "bill_depth_mm": 15.0,
        "flipper_length_mm": 215,
        "body_mass_g": 5200,
        "sex": None,
        "year": 2009,
    },
    {
        "island": None,
        "bill_length_mm": None,
        "bill_depth_mm": 18.5,
        "flipper_length_mm": None,
        "body_mass_g": None,
        "sex": "female",
        "year": 2008,
    },
]


def serving_rows(pipeline: str):
    """The raw eval rows (label dropped) plus the odd rows, as pandas."""
    import pandas as pd

    record = latest_outputs(pipeline)["ingest"][1]["examples"]
    raw = Examples(uri=record.uri, properties=record.properties).to_pandas("eval").drop(columns=["species"])
    return pd.concat([raw, pd.DataFrame(ODD_ROWS).astype(raw.dtypes.to_dict())], ignore_index=True)


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> dict:
    """One run of the training project with ONNX export: the pipeline file, the trainer's execution and model."""
    folder = tmp_path_factory.mktemp("training")
    pipeline = write_training_project(str(folder), extra="export: onnx\n")
    code, out = cli("run", pipeline)
    assert code == 0, out
    execution, outputs = latest_outputs(pipeline)["trainer"]
    return {"pipeline": pipeline, "execution": execution, "model": outputs["model"], "output": out}


def test_the_model_records_what_it_is_and_how_well_it_fits(trained):
    model, execution = trained["model"], trained["execution"]
    props = model.properties
    assert props["label"] == "species" and props["task"] == "classification" and props["flavor"] == "sklearn"
    assert props["classes"] == ["Adelie", "Chinstrap", "Gentoo"]
    assert props["features"] == [
        "island",
        "bill_length_mm",
        "bill_depth_mm",
        "flipper_length_mm",
        "body_mass_g",
        "sex",
        "year",
    ]
    assert props["raw_columns"] == props["features"]  # the transform keeps names; the label is not a request column
    assert props["estimator"] == "sklearn.ensemble._forest.RandomForestClassifier"
    metrics = execution.metrics
    assert metrics["train_accuracy"] > 0.9 and metrics["eval_accuracy"] > 0.85
    assert metrics["rows_train"] + metrics["rows_eval"] == 344
    assert metrics["fit_seconds"] > 0
    # what the training function saw and said, through ctx
    assert metrics["batched_rows"] == metrics["rows_train"]
    assert metrics["feature_count"] == 7 and metrics["frame_columns"] == 8
    assert props["metrics"]["eval_accuracy"] == metrics["eval_accuracy"]
    assert "RandomForestClassifier (sklearn), classification of species (3 classes)" in props["summary"]


def test_the_model_takes_raw_rows_through_mlflow(trained):
    import mlflow.pyfunc

    from headrace.components.model_package import load_model

    uri = trained["model"].uri
    rows = serving_rows(trained["pipeline"])
    served = mlflow.pyfunc.load_model(uri)
    labels = served.predict(rows)
    assert list(labels) == list(load_model(uri).predict(rows))
    assert set(labels) <= {"Adelie", "Chinstrap", "Gentoo"} and len(labels) == len(rows)
    probabilities = served.predict(rows, params={"output": "probabilities"})
    assert list(probabilities.columns) == ["Adelie", "Chinstrap", "Gentoo"]
    assert ((probabilities.sum(axis=1) - 1).abs() < 1e-9).all()
    # the input example is raw rows (from raw_examples), not transformed features
    example = json.loads(Path(uri, "input_example.json").read_text())
    assert "island" in example["columns"] and "species" not in example["columns"]
    assert {"Torgersen", "Biscoe", "Dream"} & {row[example["columns"].index("island")] for row in example["data"]}


def test_onnx_export_is_one_graph_that_predicts_what_the_mlflow_model_does(trained):
    import numpy as np
    import onnxruntime as ort

    from headrace.components.model_package import load_model
    from headrace.components.trainer.onnx_export import TOLERANCE, onnx_feed

    uri = trained["model"].uri
    session = ort.InferenceSession(os.path.join(uri, "onnx", "model.onnx"), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == trained["model"].properties["raw_columns"]  # raw in
    rows = serving_rows(trained["pipeline"])
    labels, probabilities = session.run(["label", "probabilities"], onnx_feed(rows, session))
    packaged = load_model(uri)
    assert list(labels) == list(packaged.predict(rows))
    assert np.max(np.abs(probabilities - packaged.predict_proba(rows))) <= TOLERANCE
    recorded = trained["model"].properties["export"]
    assert recorded["path"] == "onnx/model.onnx" and recorded["max_difference"] <= TOLERANCE


def test_same_inputs_and_seed_give_the_same_model_and_another_seed_another(trained):
    pipeline, first = trained["pipeline"], trained["model"]
    code, out = cli("run", pipeline, "--no-cache")
    assert code == 0, out
    again = latest_outputs(pipeline)["trainer"][1]["model"]
    assert again.id != first.id and again.fingerprint == first.fingerprint
    code, out = cli("run", pipeline, "--set", "components.trainer.params.seed=1")
    assert code == 0 and "trainer: running (parameter `seed` changed from 0 to 1)" in out
    reseeded = latest_outputs(pipeline)["trainer"][1]["model"]
    assert reseeded.fingerprint != first.fingerprint


def test_task_auto_follows_the_estimator_and_the_label_for_regression(trained):
    folder = os.path.dirname(trained["pipeline"])
    Path(folder, "regress.py").write_text(
        "from sklearn.linear_model import Ridge\n\n\ndef train(ctx):\n"
        "    assert ctx.task == 'regression', ctx.task\n"
        "    X, y = ctx.train.to_numpy()\n    return Ridge(random_state=ctx.seed).fit(X, y)\n"
    )
    code, out = cli(
        "run",
        trained["pipeline"],
        "--set",
        "params.label=body_mass_g",
        "--set",
        "components.trainer.params.module=regress.py",
    )
    assert code == 0, out
    execution, outputs = latest_outputs(trained["pipeline"])["trainer"]
    props = outputs["model"].properties
    assert props["task"] == "regression" and props["classes"] is None
    assert execution.metrics["eval_r2"] > 0.5 and execution.metrics["eval_rmse"] > 0
    assert execution.metrics["rows_train"] + execution.metrics["rows_eval"] == 344  # as written
    import numpy as np
    import onnxruntime as ort

    from headrace.components.model_package import load_model
    from headrace.components.trainer.onnx_export import onnx_feed

    rows = serving_rows(trained["pipeline"]).drop(columns=["body_mass_g"]).assign(species="Adelie")
    session = ort.InferenceSession(os.path.join(outputs["model"].uri, "onnx", "model.onnx"))
    (predicted,) = session.run(["prediction"], onnx_feed(rows, session))
    expected = load_model(outputs["model"].uri).predict(rows)
    assert np.allclose(predicted.reshape(-1), expected, rtol=1e-6)


@pytest.mark.parametrize(
    ("values", "task"),
    [
        (["a", "b"], "classification"),
        ([True, False], "classification"),
        ([1, 2, 3] * 10, "classification"),
        (list(range(50)), "regression"),
        ([0.5, 1.5], "regression"),
    ],
)
def test_the_task_a_label_suggests(tmp_path, values, task):
    from headrace.components.trainer.task import task_of_label

    examples = write_examples(tmp_path / "ex", {"train": [pa.table({"y": values, "x": list(range(len(values)))})]})
    assert task_of_label(examples.to_table("train").column("y"), "y") == task


# -- bad input -------------------------------------------------------------------------------------------------------


def test_a_missing_module_or_entrypoint_is_an_error_before_anything_runs(tmp_path):
    pipeline = write_training_project(str(tmp_path), module="modle.py")
    code, out = cli("validate", pipeline)
    assert code == 2
    assert "pipeline.yaml:27:15: error: no such file 'modle.py'" in out and "did you mean 'model.py'?" in out
    pipeline = write_training_project(str(tmp_path), entrypoint="trian")
    code, out = cli("validate", pipeline)
    assert code == 2
    assert "pipeline.yaml:28:19: error: model.py defines no function 'trian'" in out and "did you mean 'train'?" in out
    Path(tmp_path, "model.py").write_text("def train(ctx)\n    return None\n")
    code, out = cli("validate", write_training_project(str(tmp_path), model_source="def train(ctx)\n  pass\n"))
    assert code == 2 and "model.py:1:15: the module does not parse: expected ':'" in out


def test_a_failing_trainer_says_where_and_its_fix_reruns_only_the_trainer(tmp_path):
    broken = "def helper(X):\n    raise ValueError('no convergence')\n\n\ndef train(ctx):\n    return helper(ctx)\n"
    pipeline = write_training_project(str(tmp_path), model_source=broken)
    code, out = cli("run", pipeline)
    assert code == 1
    assert "model.py:2: train raised ValueError: no convergence" in out
    assert "Traceback" not in out  # the message says it; the log keeps the traceback
    states = {name: e.state for name, (e, _) in latest_outputs(pipeline).items()}
    assert states == {"ingest": "complete", "transform": "complete", "trainer": "failed"}
    write_training_project(str(tmp_path))  # the fix
    code, out = cli("run", pipeline)
    assert code == 0, out
    states = {name: e.state for name, (e, _) in latest_outputs(pipeline).items()}
    assert states == {"ingest": "cached", "transform": "cached", "trainer": "complete"}


WRONG_RETURNS = """\
from sklearn.linear_model import LinearRegression, LogisticRegression


def nothing(ctx):
    ctx.train.to_numpy()


def settings(ctx):
    return {"C": 1.0}


def unfitted(ctx):
    return LogisticRegression()


def regressor(ctx):
    X, y = ctx.train.to_numpy()
    return LinearRegression().fit(X, y == "Adelie")
"""


@pytest.mark.parametrize(
    ("entrypoint", "extra", "said"),
    [
        ("nothing", "", "model.py:4: nothing returned None; return the fitted model (e.g. `return model.fit(X, y)`)"),
        ("settings", "", "model.py:8: settings returned a builtins.dict ({'C': 1.0}), which is not a model:"),
        ("unfitted", "", "model.py:12: unfitted returned a LogisticRegression that is not fitted; call .fit(X, y)"),
        (
            "regressor",
            "task: classification\n",
            "the trainer's task is classification, but model.py:16: regressor returned a LinearRegression, a "
            "scikit-learn regressor",
        ),
    ],
)
def test_what_an_entrypoint_returns_must_be_a_fitted_model(tmp_path_factory, entrypoint, extra, said):
    folder = tmp_path_factory.getbasetemp() / "wrong-returns"  # one project: ingest and transform run once
    pipeline = write_training_project(str(folder), WRONG_RETURNS, entrypoint=entrypoint, extra=extra)
    code, out = cli("run", pipeline)
    assert code == 1
    assert said in " ".join(out.split()), out


CUSTOM = '''\
import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin


class NearestCentroid(BaseEstimator, ClassifierMixin):
    """Defined in the user's module only: it must travel inside the saved model."""

    def fit(self, X, y):
        X = np.nan_to_num(X)
        self.classes_ = np.unique(y)
        self.centroids_ = np.array([X[y == c].mean(axis=0) for c in self.classes_])
        return self

    def predict(self, X):
        distances = ((np.nan_to_num(X)[:, None, :] - self.centroids_[None]) ** 2).sum(axis=2)
        return self.classes_[distances.argmin(axis=1)]


def train(ctx):
    X, y = ctx.train.to_numpy()
    return NearestCentroid().fit(X, y)
'''


def test_an_estimator_class_from_the_users_module_travels_with_the_model(tmp_path):
    project = tmp_path / "project"
    pipeline = write_training_project(str(project), CUSTOM, raw_examples=False)
    code, out = cli("run", pipeline)
    assert code == 0, out
    model = latest_outputs(pipeline)["trainer"][1]["model"]
    assert model.properties["input_example"] == "typical row"  # no raw_examples wired
    code, out = cli("run", pipeline, "--no-cache")  # the module imported again: new class objects, same bytes
    assert code == 0, out
    assert latest_outputs(pipeline)["trainer"][1]["model"].fingerprint == model.fingerprint
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    probe = textwrap.dedent(
        f"""
        import importlib.util, sys
        import pandas as pd
        import mlflow.pyfunc
        assert importlib.util.find_spec("model") is None  # the user's module is not importable here
        rows = pd.DataFrame({ODD_ROWS!r})
        print(list(mlflow.pyfunc.load_model({model.uri!r}).predict(rows)))
        """
    )
    done = subprocess.run([sys.executable, "-c", probe], cwd=elsewhere, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert set(eval(done.stdout)) <= {"Adelie", "Chinstrap", "Gentoo"}
    # exporting it to ONNX: skl2onnx has no converter for it, and the trainer says so
    code, out = cli("run", pipeline, "--set", "components.trainer.params.export=onnx")
    assert code == 1
    assert "skl2onnx cannot convert a NearestCentroid to ONNX" in " ".join(out.split())


def test_onnx_export_of_a_transform_op_without_an_onnx_form_names_the_op(tmp_path):
    pipeline = write_training_project(str(tmp_path), extra="export: onnx\n")
    text = (
        Path(pipeline)
        .read_text()
        .replace(
            "        - compute_and_apply_vocabulary",
            "        - hash_bucket: {columns: [island], num_buckets: 4}\n        - compute_and_apply_vocabulary",
        )
    )
    Path(pipeline).write_text(text.replace('type: categorical, exclude: ["${params.label}"]}}}', "columns: [sex]}}"))
    code, out = cli("run", pipeline)
    assert code == 1
    assert "pipeline.yaml:33:7: the transform's ops[3]: hash_bucket has no ONNX form" in " ".join(out.split()), out


def test_onnx_export_without_its_packages_says_what_to_install(tmp_path, monkeypatch):
    pipeline = write_training_project(str(tmp_path), extra="export: onnx\n")
    monkeypatch.setitem(sys.modules, "skl2onnx", None)
    code, out = cli("validate", pipeline)
    assert code == 2
    assert "export: onnx needs skl2onnx, not installed here" in out and "pip install 'headrace[onnx]'" in out


RICH_OPS = [
    {"fill_missing": {"columns": ["sex"], "strategy": "mode"}},
    {"one_hot": {"columns": ["island", "sex"]}},
    {"bucketize": {"columns": ["bill_length_mm"], "num_buckets": 4}},
    {"fill_missing": {"columns": ["flipper_length_mm"], "strategy": "median"}},
    {"scale_to_0_1": {"columns": ["flipper_length_mm"]}},
    {"log1p": {"columns": ["body_mass_g"]}},
    {"clip": {"columns": ["bill_depth_mm"], "min": 14, "max": 20, "suffix": "_clipped"}},
    {"rename": {"columns": {"bill_depth_mm": "depth"}}},
    {"drop": {"columns": ["year"]}},
]


def test_onnx_export_covers_the_ops_it_names(tmp_path):
    """one_hot, bucketize, median, 0-1 scaling, log1p, clip with a suffix, rename, drop: ONNX agrees with MLflow."""
    import logging

    import numpy as np
    import onnxruntime as ort

    from headrace.components.artifacts import Model, TransformGraph
    from headrace.components.contract import Context
    from headrace.components.model_package import load_model
    from headrace.components.trainer.component import TrainerComponent
    from headrace.components.trainer.onnx_export import TOLERANCE, onnx_feed
    from headrace.components.trainer.spec import TrainerParameters
    from headrace.components.transform.component import TransformComponent
    from headrace.components.transform.spec import TransformParameters
    from tests.examples_files import penguin_examples

    raw = penguin_examples(tmp_path / "raw")
    transformed, graph = Examples(uri=str(tmp_path / "examples")), TransformGraph(uri=str(tmp_path / "graph"))
    TransformComponent().run(
        Context(
            component="transform",
            inputs={"examples": raw, "schema": None},
            outputs={"transformed_examples": transformed, "transform_graph": graph},
            params=TransformParameters.model_validate({"ops": RICH_OPS}),
        )
    )
    (tmp_path / "boost.py").write_text(
        "from sklearn.ensemble import HistGradientBoostingClassifier\n\n\ndef train(ctx):\n"
        "    X, y = ctx.train.to_numpy()\n"
        "    return HistGradientBoostingClassifier(max_iter=20, random_state=ctx.seed).fit(X, y)\n"
    )
    model = Model(uri=str(tmp_path / "model"))
    params = {"module": str(tmp_path / "boost.py"), "label": "species", "export": "onnx"}
    TrainerComponent().run(
        Context(
            component="trainer",
            inputs={"examples": transformed, "transform_graph": graph, "raw_examples": raw, "schema": None},
            outputs={"model": model},
            params=TrainerParameters.model_validate(params),
            log=logging.getLogger("test.trainer"),
        )
    )
    features = model.properties["features"]
    assert {"island_Biscoe", "island_OOV", "sex_male", "depth", "bill_depth_mm_clipped"} <= set(features)
    assert "year" not in features and model.properties["export"]["estimator_precision"] == "float"
    rows = raw.to_pandas("eval").drop(columns=["species"])  # with an unseen island and a row of nulls
    session = ort.InferenceSession(str(tmp_path / "model" / "onnx" / "model.onnx"))
    labels, probabilities = session.run(["label", "probabilities"], onnx_feed(rows, session))
    packaged = load_model(model.uri)
    assert list(labels) == list(packaged.predict(rows))
    assert np.max(np.abs(probabilities - packaged.predict_proba(rows))) <= TOLERANCE


RESEEDED_MIDWAY = """\
import time

import numpy as np
from sklearn.ensemble import RandomForestClassifier


def train(ctx):
    X, y = ctx.train.to_numpy()
    first = np.random.randint(2**31)  # NumPy's global generator, which the trainer seeds with ctx.seed
    time.sleep(0.3)  # a sibling trainer that ran meanwhile would reseed it
    second = np.random.randint(2**31)
    return RandomForestClassifier(n_estimators=5, random_state=(first ^ second) % 2**31).fit(X, y)
"""

SIBLING_TRAINER = """\
  sibling:
    type: trainer
    inputs: {examples: transform.transformed_examples, transform_graph: transform.transform_graph}
    params: {module: model.py, label: species, seed: 1}
"""


def test_trainers_in_parallel_branches_train_as_each_would_alone(tmp_path):
    alone = write_training_project(str(tmp_path / "alone"), RESEEDED_MIDWAY)
    together = write_training_project(str(tmp_path / "together"), RESEEDED_MIDWAY)
    with open(together, "a") as f:
        f.write(SIBLING_TRAINER)
    code, out = cli("run", alone)
    assert code == 0, out
    code, out = cli("run", together)
    assert code == 0, out
    model = latest_outputs(together)["trainer"][1]["model"]
    assert model.fingerprint == latest_outputs(alone)["trainer"][1]["model"].fingerprint
    assert latest_outputs(together)["sibling"][1]["model"].fingerprint != model.fingerprint  # seed 1
    assert "progress (waiting for another trainer of this run to finish" in out
