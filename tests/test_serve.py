"""A pipeline that trains, blesses, infra-validates and pushes; then ``headrace serve`` on it, as a user would.

One pipeline run and one server for the whole module: starting ``mlflow
models serve`` costs seconds. The server's answers to raw rows (nulls, an
island it never saw) must be the evaluator's predictions for the same rows:
``model_package.load_model(...).predict``, and ``mlflow.pyfunc.load_model``.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import select
import shutil
import signal
import subprocess
import textwrap
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from headrace.components import local_server, model_server
from headrace.components.model_package import load_model
from headrace.metadata.store import MetadataStore
from headrace.pipelines.cli import main
from headrace.pipelines.loader import load_pipeline
from headrace.pipelines.model_serving import ServeError, find_model
from tests.models import PENGUINS, REPO, TRAINING_COMPONENTS
from tests.projects import HEADRACE

pytestmark = pytest.mark.timeout(600)

PIPELINE = (
    """
name: birds
root: ./runs
metadata: sqlite:///runs/metadata.db
mlflow: {}
components:
"""
    + TRAINING_COMPONENTS
    + """  evaluator:
    type: evaluator
    inputs: {model: trainer.model, examples: ingest.examples}
    params: {thresholds: {accuracy: {min: 0.9}}}
  infra_validator:
    type: infra_validator
    inputs: {model: trainer.model, examples: ingest.examples}
    params: {canary_rows: 5, requests: 2}
  pusher:
    type: pusher
    inputs: {model: trainer.model, blessing: evaluator.blessing, infra_blessing: infra_validator.infra_blessing}
    params: {push_dir: serving}
"""
)


def run_cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result.exit_code, result.output


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project after one run that pushed version 1; returns its pipeline file."""
    folder = tmp_path_factory.mktemp("birds")
    (folder / "data").mkdir()
    shutil.copy(PENGUINS, folder / "data" / "penguins.csv")
    (folder / "pipeline.yaml").write_text(PIPELINE)
    code, output = run_cli("run", str(folder / "pipeline.yaml"))
    assert code == 0, output
    return folder / "pipeline.yaml"


@pytest.fixture(scope="module")
def server(project: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """``headrace serve PIPELINE`` on a free loopback port: (URL, what it printed)."""
    port = local_server.free_port()
    log = tmp_path_factory.mktemp("serve") / "server.log"
    with open(log, "wb") as errors:
        process = subprocess.Popen(
            [HEADRACE, "serve", str(project), "--port", str(port)],
            stdout=subprocess.PIPE,
            stderr=errors,
            start_new_session=True,
            env={**os.environ, "PYTHONPATH": str(REPO)},  # the trainer is tests.models:train
        )
    try:
        printed = read_until(process, "try: curl", log)
        yield f"http://127.0.0.1:{port}", printed
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        process.wait(30)


def read_until(process: subprocess.Popen, marker: str, log: Path, timeout: float = 240) -> str:
    """What the process printed until ``marker`` (raw reads: a buffered readline would hide lines from select)."""
    assert process.stdout is not None
    fd = process.stdout.fileno()
    seen = ""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and marker not in seen:
        if select.select([fd], [], [], 1.0)[0]:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            seen += chunk.decode(errors="replace")
    assert marker in seen, f"headrace serve printed:\n{seen}\nand logged:\n{log.read_text()}"
    return seen


def odd_rows() -> pd.DataFrame:
    """Raw rows as a client sends them: nulls in every kind of column, an island no penguin in training came from."""
    rows = pd.read_csv(PENGUINS).drop(columns=["species"]).iloc[[0, 3, 100, 200, 300]].reset_index(drop=True)
    rows.loc[1, ["bill_length_mm", "body_mass_g", "sex"]] = None
    rows.loc[2, "island"] = "Anvers"
    rows.loc[3, ["island", "sex"]] = [None, None]
    return rows


def pushed_path(project: Path) -> str:
    return str(project.parent / "serving" / "1")


def test_the_run_pushes_version_1_registers_it_and_show_says_so(project):
    assert sorted(os.listdir(project.parent / "serving")) == ["1"]
    assert os.path.isfile(os.path.join(pushed_path(project), "MLmodel"))
    pipeline = load_pipeline(str(project))
    store = MetadataStore(pipeline.metadata_url)
    pushed = store.latest_output("birds", "pusher", "pushed_model")
    assert pushed is not None
    assert pushed.properties["pushed"] is True
    assert pushed.properties["path"] == pushed_path(project)
    assert pushed.properties["registered_model"] == "birds"
    assert pushed.properties["alias"] == "champion"
    infra = store.latest_output("birds", "infra_validator", "infra_blessing")
    assert infra is not None and infra.properties["served"] is True

    from mlflow import MlflowClient

    uri = f"sqlite:///{project.parent / 'runs' / 'mlflow.db'}"
    champion = MlflowClient(tracking_uri=uri, registry_uri=uri).get_model_version_by_alias("birds", "champion")
    assert champion.source == pushed_path(project)
    run = store.run_of_artifact(pushed.id)
    assert run is not None and f"run `{run.id}`" in champion.description

    code, output = run_cli("show", run.id, "-p", str(project))
    assert code == 0
    assert f"pushed as version 1: {pushed_path(project)}; registered birds v1 @champion" in output


def test_serve_prints_the_url_and_a_curl_command_with_the_models_example(server, project):
    url, printed = server
    assert f"serving {pushed_path(project)}" in printed
    assert "version 1 pushed by pipeline 'birds'" in printed
    assert f"{url}/invocations" in printed
    example = os.path.join(pushed_path(project), "serving_input_example.json")
    assert f"try: curl -X POST {url}/invocations -H 'Content-Type: application/json' -d @{example}" in printed


def test_the_server_answers_raw_rows_with_the_evaluators_predictions(server, project):
    url, _ = server
    rows = odd_rows()
    answer = model_server.invoke(url, model_server.dataframe_split(rows))
    assert answer.status == 200, answer.body
    packaged = load_model(pushed_path(project))  # what the evaluator computes on raw rows
    assert answer.body["predictions"] == list(packaged.predict(rows))

    probabilities = model_server.invoke(
        url, {**model_server.dataframe_split(rows), "params": {"output": "probabilities"}}
    )
    assert probabilities.status == 200, probabilities.body
    served = pd.DataFrame(probabilities.body["predictions"])[[str(c) for c in packaged.classes or []]]
    assert served.to_numpy() == pytest.approx(packaged.predict_proba(rows), abs=1e-12)


def test_a_scikit_learn_model_answers_tf_servings_api_under_the_pushers_model_name(server, project):
    url, printed = server
    assert f"{url}/v1/models/birds:predict  (TF Serving's REST API)" in printed  # the pusher's model_name
    rows = odd_rows()
    answer = model_server.invoke(url, {"instances": json.loads(rows.to_json(orient="records"))})
    packaged = load_model(pushed_path(project))
    assert answer.status == 200 and answer.body["predictions"] == list(packaged.predict(rows))  # MLflow's path
    request = urllib.request.Request(
        f"{url}/v1/models/birds:predict",
        json.dumps({"inputs": {column: json.loads(rows[column].to_json(orient="values")) for column in rows}}).encode(),
        {"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        outputs = json.loads(response.read())["outputs"]
    assert outputs["classes"] == [str(c) for c in packaged.predict(rows)]
    assert outputs["scores"] == packaged.predict_proba(rows).tolist()  # float64 through JSON: exact


def test_the_pushed_model_loads_with_mlflow_pyfunc_and_from_the_registry(project, monkeypatch, tmp_path):
    import mlflow

    rows = odd_rows()
    expected = list(load_model(pushed_path(project)).predict(rows))
    assert list(mlflow.pyfunc.load_model(pushed_path(project)).predict(rows)) == expected
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{project.parent / 'runs' / 'mlflow.db'}")
    monkeypatch.chdir(tmp_path)  # whatever MLflow falls back to stays out of the repository
    assert list(mlflow.pyfunc.load_model("models:/birds@champion").predict(rows)) == expected


def test_a_request_missing_a_column_gets_an_error_naming_it(server):
    url, _ = server
    answer = model_server.invoke(url, model_server.dataframe_split(odd_rows().drop(columns=["island"])))
    assert answer.status == 400
    assert "missing inputs ['island']" in answer.error


def test_an_unblessed_model_is_not_pushed_and_the_run_summary_says_why(project):
    code, output = run_cli("run", str(project), "--set", "components.evaluator.params.thresholds.accuracy.min=1.01")
    assert code == 0, output  # declining is not a failure
    said = r"warning: pusher\.pushed_model: not pushed: the model is not blessed \(ModelBlessing #\d+\): accuracy [\d.]+ < min 1\.01"
    assert re.search(said, output), output
    assert sorted(os.listdir(project.parent / "serving")) == ["1"]
    assert find_model(str(project)).path == pushed_path(project)  # serve still finds the last pushed model


def test_serve_takes_a_push_dir_or_a_model_directory_and_says_what_is_missing(project, tmp_path):
    assert find_model(str(project.parent / "serving")).path == pushed_path(project)
    assert find_model(pushed_path(project)).path == pushed_path(project)
    with pytest.raises(ServeError, match=r"neither an MLflow model .* nor a push directory"):
        find_model(str(tmp_path))
    lonely = tmp_path / "pipeline.yaml"
    lonely.write_text(textwrap.dedent(PIPELINE).replace("name: birds", "name: other"))
    (tmp_path / "data").mkdir()
    shutil.copy(PENGUINS, tmp_path / "data" / "penguins.csv")
    with pytest.raises(ServeError, match="no model of pipeline 'other' has been pushed yet"):
        find_model(str(lonely))


def test_another_tracking_store_reruns_only_the_pusher_which_registers_there_without_a_new_version(project):
    other = project.parent / "other-mlflow.db"
    code, output = run_cli("run", str(project), "--set", f"mlflow.tracking_uri=sqlite:///{other}")
    assert code == 0, output
    assert (
        f"MLflow tracking URI changed from sqlite:///{project.parent / 'runs' / 'mlflow.db'} to sqlite:///{other}"
        in output
    )
    assert sorted(os.listdir(project.parent / "serving")) == ["1"], output  # the same model: no second version

    from mlflow import MlflowClient

    uri = f"sqlite:///{other}"
    champion = MlflowClient(tracking_uri=uri, registry_uri=uri).get_model_version_by_alias("birds", "champion")
    assert champion.source == pushed_path(project)


def test_serve_takes_a_push_dir_given_as_a_uri(project):
    serving = f"file://{project.parent / 'serving'}"
    assert find_model(serving).path == f"{serving}/1"
    assert find_model(f"{serving}/1").path == f"{serving}/1"


def test_a_push_dir_that_cannot_be_written_fails_the_pusher_with_the_folder_and_the_fix(project, tmp_path):
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    code, output = run_cli("run", str(project), "--set", f"components.pusher.params.push_dir={blocked}/serving")
    assert code == 1
    assert f"cannot push to {blocked}/serving: Not a directory; a part of that path is a file" in output
    assert "trainer: cached" in output  # the fix re-runs only the pusher


def test_a_model_name_tf_serving_cannot_take_is_refused_before_anything_starts(tmp_path):
    code, output = run_cli("serve", str(tmp_path), "--model-name", "penguin model")
    assert code == 2
    assert "Invalid value for --model-name: 'penguin model' is not a TF Serving model name" in " ".join(output.split())
