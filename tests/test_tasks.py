"""One execution call for every runner: a serialisable task, executed anywhere, watched by observers."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from click.testing import CliRunner

from headrace.metadata.store import MetadataStore
from headrace.pipelines.cli import main
from headrace.pipelines.execution import InputUnavailable, execute_task
from headrace.pipelines.loader import load_pipeline
from headrace.pipelines.local_runner import run_pipeline
from headrace.pipelines.observers import Observers, SilentObserver
from headrace.pipelines.task import Task, TaskError
from tests.projects import make_project

RUN_TASK = """
import sys
from headrace.pipelines.execution import execute_task
from headrace.pipelines.task import Task
outcome = execute_task(Task.from_json(sys.argv[1]))
print(outcome.state, outcome.execution_id)
"""


@pytest.fixture
def project(tmp_path):
    return make_project(str(tmp_path / "demo"))


def run_cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result.exit_code, result.output


def test_a_task_round_trips_through_json(project):
    pipeline = load_pipeline(project, ["params.scale=2"])
    task = Task.for_node(pipeline, "count", "run-1", use_cache=False, earlier_inputs=True)
    text = task.to_json()
    assert Task.from_json(text) == task
    assert json.loads(text) == {
        "pipeline_file": os.path.abspath(project),
        "pipeline_fingerprint": pipeline.fingerprint,
        "overrides": ["params.scale=2"],
        "node": "count",
        "run_id": "run-1",
        "store_url": pipeline.metadata_url,
        "use_cache": False,
        "earlier_inputs": True,
    }


def test_tasks_run_in_fresh_processes_from_their_json_alone(project):
    """What a Kubeflow pod does: get the task's JSON, create-or-get the run, execute one node."""
    pipeline = load_pipeline(project)
    states = []
    for node in ("ingest", "count", "publish"):
        task = Task.for_node(pipeline, node, "kfp-run-7")
        done = subprocess.run(
            [sys.executable, "-c", RUN_TASK, task.to_json()], capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr
        states.append(done.stdout.split()[0])
    assert states == ["complete", "complete", "complete"]
    store = MetadataStore(pipeline.metadata_url)
    run = store.get_run("kfp-run-7")
    assert run is not None and run.pipeline == "demo"
    executions = {e.component: e for e in store.executions("kfp-run-7")}
    examples = store.outputs_of(executions["ingest"].id)["examples"]
    assert store.inputs_of(executions["count"].id) == {"examples": examples}  # this run's ingest
    assert store.input_resolutions(executions["count"].id) == {}


def test_a_task_refuses_a_pipeline_file_changed_since_its_run_started(project):
    task = Task.for_node(load_pipeline(project), "ingest", "run-changed")
    with open(project, "a") as f:
        f.write("# edited\n")
    with pytest.raises(TaskError, match=r"changed since run run-changed started.*start a new run"):
        execute_task(task)


def test_a_normal_run_never_reads_another_runs_artifact(project):
    assert run_cli("run", project)[0] == 0
    pipeline = load_pipeline(project)
    store = MetadataStore(pipeline.metadata_url)
    earlier = store.list_runs(limit=1)[0].id

    # a task whose upstream did not run in its run: no silent fallback to the earlier run's output
    with pytest.raises(InputUnavailable, match=r"`ingest\.examples`, which has not completed in run fresh-run"):
        execute_task(Task.for_node(pipeline, "count", "fresh-run"))
    # where the user asked for it (--only / --from), it is allowed, and recorded as such
    outcome = execute_task(Task.for_node(pipeline, "count", "only-run", earlier_inputs=True))
    assert outcome.state == "cached"
    assert store.input_resolutions(outcome.execution_id) == {"examples": "earlier run"}
    assert store.run_of_artifact(store.inputs_of(outcome.execution_id)["examples"].id).id == earlier

    # a run whose upstream fails skips downstream instead of reading the earlier run's output
    code, _ = run_cli("run", project, "--set", "components.ingest.params.source=data/missing.csv")
    assert code == 1
    failed = store.list_runs(limit=1)[0].id
    states = {e.component: e.state for e in store.executions(failed)}
    assert states.get("count") == "skipped" and states.get("publish") == "skipped"
    assert all(store.inputs_of(e.id) == {} for e in store.executions(failed))


class Recording(SilentObserver):
    def __init__(self) -> None:
        self.events: list[tuple] = []

    def run_started(self, run_id, pipeline, nodes):
        self.events.append(("run_started", tuple(nodes)))

    def node_started(self, node, reason):
        self.events.append(("started", node, reason))

    def node_progress(self, node, note):
        self.events.append(("progress", node, note))

    def node_cached(self, outcome):
        self.events.append(("cached", outcome.node, outcome.cached_from))

    def node_finished(self, outcome):
        self.events.append(("finished", outcome.node, outcome.execution_id))

    def node_failed(self, outcome):
        self.events.append(("failed", outcome.node))

    def node_skipped(self, node, reason):
        self.events.append(("skipped", node, reason))

    def run_finished(self, result):
        self.events.append(("run_finished", result.state))


def test_observers_hear_every_step_of_a_run(project):
    pipeline = load_pipeline(project)
    store = MetadataStore(pipeline.metadata_url)
    first, second = Recording(), Recording()
    run_pipeline(pipeline, store, Observers([first, second]), parallelism=1)
    assert first.events == second.events  # the composite tells each
    assert first.events[0] == ("run_started", ("ingest", "count", "publish"))
    assert ("started", "ingest", "no earlier execution") in first.events
    assert ("progress", "ingest", "344 rows read") in first.events
    finished = {e[1]: e[2] for e in first.events if e[0] == "finished"}
    assert list(finished) == ["ingest", "count", "publish"]
    assert first.events[-1] == ("run_finished", "succeeded")

    again = Recording()
    run_pipeline(pipeline, store, again, parallelism=1)
    assert [e for e in again.events if e[0] == "cached"] == [("cached", n, finished[n]) for n in finished]

    failing = Recording()
    broken = load_pipeline(project, ["components.publish.params.fail=true", "params.scale=3"])
    run_pipeline(broken, store, failing, parallelism=1)
    assert ("failed", "publish") in failing.events and failing.events[-1] == ("run_finished", "failed")

    skipping = Recording()
    no_data = load_pipeline(project, ["components.ingest.params.source=data/missing.csv"])
    run_pipeline(no_data, store, skipping, parallelism=1)
    assert ("failed", "ingest") in skipping.events
    assert ("skipped", "count", "upstream `ingest` did not complete") in skipping.events
