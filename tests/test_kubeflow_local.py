"""The compiled pipeline runs unchanged under kfp.local and records what a local run records.

The penguin example is compiled with ``headrace compile --local``, its project
folder is then deleted (the user code and data travel inside the IR), and the
IR runs under ``kfp.local.SubprocessRunner(use_venv=False)`` against a fresh
server database. A local run of the same project against another fresh
database must give the same executions, artifacts (by content fingerprint),
cache keys and lineage.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from headrace.metadata.store import MetadataStore
from headrace.pipelines.cli import main
from headrace.pipelines.loader import load_pipeline
from tests.databases import fresh_database

REPO = Path(__file__).resolve().parent.parent


def cli(*args: str) -> str:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def recorded(url: str) -> tuple[str, dict]:
    """The newest run's state, and per component: type, cache key, parameters, outputs and inputs (lineage).

    Artifacts are compared by content: the two ingests of the example read the same file, so which of
    them computed and which reused the other's result (and whose artifact the statistics read) may differ.
    """
    store = MetadataStore(url)
    (run,) = store.list_runs(limit=5)
    found = {}
    for e in store.executions(run.id):
        found[e.component] = {
            "type": e.component_type,
            "done": e.state in ("complete", "cached"),  # which of two equal ingests is the cache hit may differ
            "cache_key": e.cache_key,
            "facts": e.cache_inputs,
            "parameters": e.parameters,
            "outputs": {n: (a.type, a.fingerprint) for n, a in store.outputs_of(e.id).items()},
            "inputs": {n: (a.type, a.fingerprint) for n, a in store.inputs_of(e.id).items()},
        }
    return store.get_run(run.id).state, found


@pytest.mark.slow
@pytest.mark.timeout(600)
@pytest.mark.parametrize("kind", ["postgresql", "mysql"])
def test_compiled_penguin_runs_under_kfp_local_like_a_local_run(kind, tmp_path, monkeypatch):
    import kfp.local
    from kfp import components

    project = tmp_path / "project"
    shutil.copytree(REPO / "examples" / "penguin", project, ignore=shutil.ignore_patterns("runs", "__pycache__"))
    pipeline_file = str(project / "pipeline.yaml")
    ir = tmp_path / "out" / "penguin.kfp.yaml"
    ir.parent.mkdir()
    monkeypatch.chdir(project)  # as a user works; both runs hash the code relative to the same folders
    with fresh_database(kind) as local_url, fresh_database(kind) as kfp_url:
        cli("run", pipeline_file, "-q", "--set", f"metadata={local_url}", "--set", f"root={tmp_path / 'local-runs'}")

        monkeypatch.setenv("HEADRACE_METADATA", kfp_url)  # the pods' secret: never written into the IR
        out = cli(
            "compile",
            pipeline_file,
            "--local",
            "-o",
            str(ir),
            "--set",
            "metadata=${env:HEADRACE_METADATA}",
            "--set",
            f"root={tmp_path / 'kfp-runs'}",
        )
        assert " tasks, " in out and "files packed" in out
        assert kfp_url not in ir.read_text()

        elsewhere = tmp_path / "elsewhere"
        elsewhere.mkdir()
        monkeypatch.chdir(elsewhere)
        shutil.rmtree(project)  # the user code and data exist only inside the compiled file now
        monkeypatch.setenv("HEADRACE_CODE_DIR", str(tmp_path / "unpacked"))
        kfp.local.init(runner=kfp.local.SubprocessRunner(use_venv=False), pipeline_root=str(tmp_path / "kfp-root"))
        components.load_component_from_file(str(ir))()

        local_state, local = recorded(local_url)
        kfp_state, on_kfp = recorded(kfp_url)
    assert local_state == kfp_state == "succeeded"
    assert set(on_kfp) == set(local) == set(load_pipeline(str(REPO / "examples" / "penguin" / "pipeline.yaml")).nodes)
    for component in local:
        assert on_kfp[component] == local[component], component
    assert set(local["validator"]["inputs"]) == {"statistics", "schema", "baseline"}
    assert os.listdir(tmp_path / "kfp-runs" / "penguin" / "artifacts")


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_a_failing_component_fails_its_kfp_task_and_the_run(tmp_path, monkeypatch):
    """User code with a project-local import, a typed pipeline parameter set per run, and a failure."""
    import json

    import kfp.local
    from kfp import components

    from tests.projects import make_project

    project = tmp_path / "project"
    pipeline_file = make_project(str(project), metadata="${env:HEADRACE_METADATA}")
    ir = tmp_path / "demo.kfp.yaml"
    with fresh_database("postgresql") as url:
        monkeypatch.setenv("HEADRACE_METADATA", url)
        monkeypatch.chdir(project)
        cli("compile", pipeline_file, "--local", "-o", str(ir), "--set", "components.publish.params.fail=true")
        monkeypatch.chdir(tmp_path)
        shutil.rmtree(project)
        monkeypatch.setenv("HEADRACE_CODE_DIR", str(tmp_path / "unpacked"))
        kfp.local.init(runner=kfp.local.SubprocessRunner(use_venv=False), pipeline_root=str(tmp_path / "kfp-root"))
        with pytest.raises(RuntimeError, match="publish"):
            components.load_component_from_file(str(ir))(scale=2.0)

        store = MetadataStore(url)
        (run,) = store.list_runs()
        executions = {e.component: e for e in store.executions(run.id)}
        assert store.get_run(run.id).state == "failed"
        assert executions["count"].state == "complete"
        assert set(executions["count"].cache_inputs["code"]) == {"steps.py", "helpers.py"}  # the closure travelled
        report = store.outputs_of(executions["count"].id)["report"]
        rows = json.loads((Path(report.uri) / "rows.json").read_text())
        assert rows["scaled"] == 2.0 * sum(rows["rows"].values())  # the run's parameter, not the default 1.0
        assert executions["publish"].state == "failed"
        assert "publish was told to fail" in executions["publish"].error
