"""Inputs from earlier runs, on purpose: ``{latest: node.output}`` and ``{latest: ..., blessed: true}``."""

from __future__ import annotations

import json
import os

from click.testing import CliRunner

from headrace.metadata.store import MetadataStore
from headrace.pipelines.cli import main
from headrace.pipelines.loader import load_pipeline
from tests.projects import make_project

MODELS = '''
import json
import os

from headrace.components import Model, ModelBlessing, Output, component
from steps import Report


@component
def train(report: Report, model: Output[Model], version: int = 1) -> None:
    os.makedirs(model.uri, exist_ok=True)
    with open(os.path.join(model.uri, "model.json"), "w") as f:
        json.dump({"version": version}, f)


@component
def bless(model: Model, blessing: Output[ModelBlessing], ok: bool = True) -> None:
    os.makedirs(blessing.uri, exist_ok=True)
    blessing.properties["blessed"] = ok


@component
def compare(model: Model, baseline: Model | None, verdict: Output[Report]) -> None:
    """Writes which baseline it got: the version of the latest blessed model of an earlier run, or none."""
    os.makedirs(verdict.uri, exist_ok=True)
    found = json.load(open(os.path.join(baseline.uri, "model.json")))["version"] if baseline else None
    with open(os.path.join(verdict.uri, "verdict.json"), "w") as f:
        json.dump({"baseline": found}, f)
'''

EXTRA = """
train:
  type: models:train
  inputs: {report: count.report}
  params: {version: 1}
compare:
  type: models:compare
  inputs: {model: train.model, baseline: {latest: train.model, blessed: true}}
bless:
  type: models:bless
  inputs: {model: train.model}
  params: {ok: true}
"""


def run_cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result.exit_code, result.output


def baseline_of_latest_run(pipeline_file: str) -> tuple[object, str]:
    store = MetadataStore(load_pipeline(pipeline_file).metadata_url)
    run = store.list_runs(limit=1)[0]
    compare = next(e for e in store.executions(run.id) if e.component == "compare")
    verdict = store.outputs_of(compare.id)["verdict"]
    return json.load(open(os.path.join(verdict.uri, "verdict.json")))["baseline"], run.id


def test_the_latest_blessed_model_of_an_earlier_run_is_the_baseline(tmp_path):
    project = make_project(str(tmp_path / "demo"), extra=EXTRA)
    with open(os.path.join(os.path.dirname(project), "models.py"), "w") as f:
        f.write(MODELS)
    store = MetadataStore(load_pipeline(project).metadata_url)

    # no earlier run: the optional baseline is None, not this run's own model
    code, out = run_cli("run", project, "--set", "components.bless.params.ok=false")
    assert code == 0, out
    assert baseline_of_latest_run(project)[0] is None
    # version 1 was not blessed: still no baseline
    code, out = run_cli("run", project, "--set", "components.train.params.version=2")
    assert code == 0, out
    assert baseline_of_latest_run(project)[0] is None
    # version 2 was blessed by that run: it is the next run's baseline, and the lineage says how it was chosen
    code, out = run_cli("run", project, "--set", "components.train.params.version=3")
    assert code == 0, out
    baseline, run_id = baseline_of_latest_run(project)
    assert baseline == 2
    compare = next(e for e in store.executions(run_id) if e.component == "compare")
    assert store.input_resolutions(compare.id) == {"baseline": "latest blessed"}
    model = store.inputs_of(compare.id)["baseline"]
    earlier = store.run_of_artifact(model.id)
    assert earlier is not None and earlier.id != run_id
    code, shown = run_cli("show", run_id, "-p", project)
    assert code == 0
    assert f"compare input baseline  Model #{model.id}, the latest blessed from run {earlier.id}" in shown


def test_a_required_earlier_run_input_without_any_candidate_is_a_clear_error(tmp_path):
    extra = EXTRA.replace("baseline: {latest: train.model, blessed: true}", "baseline: {latest: train.model}")
    extra = extra.replace("models:compare", "models:compare_required")
    project = make_project(str(tmp_path / "demo"), extra=extra)
    with open(os.path.join(os.path.dirname(project), "models.py"), "w") as f:
        f.write(
            MODELS
            + """

@component
def compare_required(model: Model, baseline: Model, verdict: Output[Report]) -> None:
    compare(model, baseline, verdict)
"""
        )
    code, out = run_cli("run", project)
    assert code == 1
    assert (
        "input `baseline` of `compare` takes the latest `train.model` of an earlier run of pipeline 'demo', "
        "and no earlier run has one"
    ) in out
    code, out = run_cli("run", project, "--set", "components.train.params.version=2")
    assert code == 0, out  # now the first run's model qualifies
