"""The MLflow mirror: what a user browsing the MLflow UI finds after `headrace run`, and how it survives bad input."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from pathlib import Path

import pytest

from tests.projects import HEADRACE, headrace, make_project

pytestmark = pytest.mark.timeout(300)


def mirrored_project(tmp_path: Path, mlflow: str = "{experiment: demo-lineage}", extra: str = "") -> str:
    pipeline = make_project(str(tmp_path), extra=extra)
    with open(pipeline, "a") as f:
        f.write(f"mlflow: {mlflow}\n")
    return pipeline


def run_id_of(result: subprocess.CompletedProcess) -> str:
    for word in (result.stdout + result.stderr).split():
        if word.count("-") == 2 and word[:8].isdigit():
            return word
    raise AssertionError(f"no run id in:\n{result.stdout}\n{result.stderr}")


def mirror_status(tmp_path: Path, run_id: str, timeout: float = 120) -> dict:
    """Wait for the background mirror's recorded outcome."""
    path = tmp_path / "runs" / "demo" / "runs" / run_id / "mlflow.json"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists():
            status = json.loads(path.read_text())
            if status["state"] != "running":
                return status
        time.sleep(0.2)
    raise AssertionError(f"the mirror recorded nothing final in {path}")


def client(uri: str):
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=uri)


def runs_of(uri: str, experiment: str = "demo-lineage") -> list:
    c = client(uri)
    exp = c.get_experiment_by_name(experiment)
    return c.search_runs([exp.experiment_id], max_results=1000) if exp else []


def default_uri(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'runs' / 'mlflow.db'}"


def test_a_run_is_a_parent_run_with_one_nested_run_per_component(tmp_path: Path) -> None:
    pipeline = mirrored_project(tmp_path)
    result = headrace("run", pipeline, "-q", env={"DEMO_SECRET": "hunter2-secret"})
    assert result.returncode == 0, result.stderr
    run_id = run_id_of(result)
    status = mirror_status(tmp_path, run_id)
    assert status["state"] == "mirrored", status
    uri = default_uri(tmp_path)  # default: an embedded SQLite tracking store under the root
    runs = runs_of(uri)
    parents = [r for r in runs if r.data.tags.get("headrace.kind") == "pipeline_run"]
    assert len(parents) == 1
    parent = parents[0]
    assert parent.info.run_name == f"demo {run_id}"
    assert parent.info.status == "FINISHED"
    assert parent.data.tags["headrace.run_id"] == run_id
    assert len(parent.data.tags["headrace.yaml_fingerprint"]) == 64
    children = {r.info.run_name: r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id}
    assert set(children) == {"ingest", "count", "publish"}
    ingest, count = children["ingest"], children["count"]
    assert ingest.data.tags["headrace.state"] == "complete"
    assert ingest.data.tags["headrace.cache_hit"] == "false"
    assert ingest.data.metrics["rows"] == 344
    assert "duration_s" in ingest.data.metrics
    assert ingest.data.params["splits.train"] == "8"
    assert count.data.params["scale"] == "1.0"
    assert count.data.tags["headrace.input.examples"] == ingest.data.tags["headrace.output.examples"]
    assert os.path.isdir(count.data.tags["headrace.output.report"])
    # the data each step read, as an MLflow dataset: the artifact's URI, its fingerprint, its rows
    (read,) = count.info.run_id and client(uri).get_run(count.info.run_id).inputs.dataset_inputs
    assert read.dataset.name == "ingest.examples"
    assert json.loads(read.dataset.profile)["num_rows"] == 344
    assert ingest.data.tags["headrace.output.examples"] in read.dataset.source
    assert [t.value for t in read.tags] == ["steps:count"]
    # the parent's description links each child; its artifacts are the resolved YAML and the lineage picture
    note = parent.data.tags["mlflow.note.content"]
    assert f"runs/{count.info.run_id})" in note
    artifacts = {a.path for a in client(uri).list_artifacts(parent.info.run_id)}
    assert artifacts == {"pipeline.yaml", "lineage.svg"}
    local = client(uri).download_artifacts(parent.info.run_id, "pipeline.yaml", str(tmp_path / "dl"))
    assert "name: demo" in Path(local).read_text()
    svg = Path(client(uri).download_artifacts(parent.info.run_id, "lineage.svg", str(tmp_path / "dl"))).read_text()
    assert svg.startswith("<svg") and "ingest" in svg and "Examples #" in svg


def test_a_cached_step_links_the_run_that_produced_it_and_a_replay_adds_nothing(tmp_path: Path) -> None:
    pipeline = mirrored_project(tmp_path)
    first = run_id_of(headrace("run", pipeline, "-q", check=True))
    second = run_id_of(headrace("run", pipeline, "-q", check=True))
    assert mirror_status(tmp_path, first)["state"] == mirror_status(tmp_path, second)["state"] == "mirrored"
    runs = runs_of(default_uri(tmp_path))
    by = {(r.data.tags["headrace.run_id"], r.info.run_name): r for r in runs}
    cached = by[(second, "ingest")]
    assert cached.data.tags["headrace.state"] == "cached"
    assert cached.data.tags["headrace.cache_hit"] == "true"
    assert cached.data.tags["headrace.cached_from_run"] == first
    assert cached.data.tags["headrace.cached_from_mlflow_run"] == by[(first, "ingest")].info.run_id
    assert cached.data.metrics["rows"] == 344

    replay = headrace("mlflow", "sync", first, second, "-p", pipeline)
    assert replay.returncode == 0, replay.stderr
    assert "0 created, 0 updated" in replay.stdout
    assert len(runs_of(default_uri(tmp_path))) == len(runs) == 8


def test_two_processes_syncing_one_run_create_no_duplicates(tmp_path: Path) -> None:
    pipeline = mirrored_project(tmp_path, mlflow="{experiment: demo-lineage, tracking_uri: sqlite:///other.db}")
    run_id = run_id_of(headrace("run", pipeline, "-q", check=True))
    mirror_status(tmp_path, run_id)
    target = f"sqlite:///{tmp_path / 'fresh.db'}"
    procs = [
        subprocess.Popen(
            [HEADRACE, "mlflow", "sync", run_id, "-p", pipeline, "--tracking-uri", target],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for _ in range(2)
    ]
    for p in procs:
        assert p.wait(120) == 0, p.stderr.read() if p.stderr else ""
    assert len(runs_of(target)) == 4  # one parent, three children


def test_a_failed_step_and_the_steps_it_skipped_appear_with_their_state(tmp_path: Path) -> None:
    pipeline = mirrored_project(
        tmp_path,
        extra="""
        after:
          type: steps:publish
          inputs: {report: publish.final}
        """,
    )
    result = headrace("run", pipeline, "-q", "--set", "components.publish.params.fail=true")
    assert result.returncode == 1
    run_id = run_id_of(result)
    assert mirror_status(tmp_path, run_id)["state"] == "mirrored"
    runs = {r.info.run_name: r for r in runs_of(default_uri(tmp_path))}
    assert runs["publish"].info.status == "FAILED"
    assert "publish was told to fail" in runs["publish"].data.tags["headrace.error"]
    assert runs["after"].info.status == "KILLED"
    assert runs["after"].data.tags["headrace.state"] == "skipped"
    parent = runs[f"demo {run_id}"]
    assert parent.info.status == "FAILED"
    assert parent.data.tags["headrace.failed"] == "publish"


def test_secrets_stay_out_and_long_parameters_are_cut_with_a_marker(tmp_path: Path) -> None:
    pipeline = mirrored_project(tmp_path)
    text = (
        Path(pipeline)
        .read_text()
        .replace(
            "inputs: {report: count.report}",
            "inputs: {report: count.report}\n    params: {secret: '${env:DEMO_SECRET}'}",
        )
    )
    Path(pipeline).write_text(text)
    result = headrace("run", pipeline, "-q", env={"DEMO_SECRET": "hunter2-secret"})
    assert result.returncode == 0, result.stderr
    run_id = run_id_of(result)
    assert mirror_status(tmp_path, run_id)["state"] == "mirrored"
    uri = default_uri(tmp_path)
    c = client(uri)
    for r in runs_of(uri):
        assert "hunter2-secret" not in json.dumps([r.data.params, r.data.tags])
        for path in (a.path for a in c.list_artifacts(r.info.run_id)):
            assert (
                "hunter2-secret" not in Path(c.download_artifacts(r.info.run_id, path, str(tmp_path / "d"))).read_text()
            )
    publish = next(r for r in runs_of(uri) if r.info.run_name == "publish")
    assert publish.data.params["secret"] == "${env:DEMO_SECRET}"

    long_value = "x" * 7000  # longer than MLflow takes: cut with a marker in MLflow, whole in the store
    result = headrace("run", pipeline, "-q", "--set", f"components.publish.params.secret={long_value}")
    run_id = run_id_of(result)
    assert mirror_status(tmp_path, run_id)["state"] == "mirrored"
    publish = next(r for r in runs_of(uri) if r.info.run_name == "publish" and r.data.tags["headrace.run_id"] == run_id)
    assert publish.data.params["secret"].endswith("[truncated: the full value is in the headrace metadata store]")
    store = f"sqlite:///{tmp_path / 'runs' / 'metadata.db'}"
    shown = json.loads(headrace("show", run_id, "--metadata", store, "--format", "json", check=True).stdout)
    assert long_value in json.dumps(shown)


def test_long_parameter_values_are_truncated_with_a_marker() -> None:
    from headrace.pipelines.mlflow_sync import PARAM_LIMIT, TRUNCATED, flat_params

    params = flat_params({"query": "y" * 10_000, "nested": {"k": [1, 2]}})
    assert len(params["query"]) == PARAM_LIMIT
    assert params["query"].endswith(TRUNCATED)
    assert params["nested.k"] == "[1, 2]"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_dead_tracking_server_neither_fails_the_run_and_sync_replays_it_later(tmp_path: Path) -> None:
    pipeline = mirrored_project(
        tmp_path, mlflow=f"{{experiment: demo-lineage, tracking_uri: 'http://127.0.0.1:{free_port()}'}}"
    )
    result = headrace("run", pipeline, "-q")
    assert result.returncode == 0, result.stderr
    run_id = run_id_of(result)
    status = mirror_status(tmp_path, run_id)
    assert status["state"] == "failed"
    assert (
        "cannot reach the MLflow tracking server" in status["error"]
        and status["replay"] == f"headrace mlflow sync {run_id}"
    )

    again = headrace("mlflow", "sync", "--pending", "-p", pipeline)
    assert again.returncode == 1 and "cannot reach the MLflow tracking server at http://127.0.0.1" in again.stderr

    uri = f"sqlite:///{tmp_path / 'later.db'}"  # the server is back (here: another store)
    replay = headrace("mlflow", "sync", run_id, "-p", pipeline, "--tracking-uri", uri)
    assert replay.returncode == 0, replay.stderr
    assert len(runs_of(uri)) == 4
    assert mirror_status(tmp_path, run_id)["state"] == "mirrored"


def test_a_deleted_experiment_is_named_with_the_way_to_restore_it(tmp_path: Path) -> None:
    pipeline = mirrored_project(tmp_path)
    run_id = run_id_of(headrace("run", pipeline, "-q", check=True))
    mirror_status(tmp_path, run_id)
    c = client(default_uri(tmp_path))
    exp = c.get_experiment_by_name("demo-lineage")
    c.delete_experiment(exp.experiment_id)
    result = headrace("mlflow", "sync", run_id, "-p", pipeline)
    assert result.returncode == 1
    assert "experiment 'demo-lineage'" in result.stderr and "was deleted" in result.stderr
    assert f"mlflow experiments restore --experiment-id {exp.experiment_id}" in result.stderr


def test_sync_of_an_unknown_run_says_how_to_list_runs(tmp_path: Path) -> None:
    pipeline = mirrored_project(tmp_path)
    headrace("run", pipeline, "-q", check=True)
    result = headrace("mlflow", "sync", "no-such-run", "-p", pipeline)
    assert result.returncode == 1
    assert "no run 'no-such-run'" in result.stderr and "headrace runs" in result.stderr


def test_a_malformed_tracking_uri_is_refused_before_anything_runs(tmp_path: Path) -> None:
    pipeline = mirrored_project(tmp_path, mlflow="{tracking_uri: 'htp:/nowhere'}")
    result = headrace("run", pipeline, "-q")
    assert result.returncode == 2
    assert "mlflow.tracking_uri" in result.stderr and "'htp'" in result.stderr
    assert not (tmp_path / "runs" / "metadata.db").exists()


def test_without_an_mlflow_section_nothing_is_mirrored(tmp_path: Path) -> None:
    pipeline = make_project(str(tmp_path))
    run_id = run_id_of(headrace("run", pipeline, "-q", check=True))
    assert not (tmp_path / "runs" / "demo" / "runs" / run_id / "mlflow.json").exists()
    assert not (tmp_path / "runs" / "mlflow.db").exists()


def test_the_run_itself_never_imports_mlflow(tmp_path: Path) -> None:
    """MLflow's import and store start-up (about 2 s) stay in the background process, off the run's critical path."""
    import sys

    pipeline = mirrored_project(tmp_path)
    probe = (
        "import sys\n"
        "from headrace.pipelines.cli import main\n"
        "try:\n"
        f"    main(['run', {pipeline!r}, '-q'])\n"
        "except SystemExit as exc:\n"
        "    assert not exc.code, exc.code\n"
        "print('imported mlflow' if 'mlflow' in sys.modules else 'no mlflow')\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("no mlflow")
    assert mirror_status(tmp_path, run_id_of(result))["state"] == "mirrored"
