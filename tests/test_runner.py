"""The local runner end to end: real files, a real SQLite store, the real CLI."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from headrace.metadata.store import MetadataStore
from headrace.pipelines.cli import main
from headrace.pipelines.loader import load_pipeline
from tests.projects import make_project


def run_cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result.exit_code, result.output


def latest(store: MetadataStore) -> dict:
    run = store.list_runs(limit=1)[0]
    return {e.component: e for e in store.executions(run.id)}


@pytest.fixture
def project(tmp_path):
    return make_project(str(tmp_path / "demo"))


def store_of(pipeline_file: str) -> MetadataStore:
    return MetadataStore(load_pipeline(pipeline_file).metadata_url)


def test_first_run_executes_everything_and_second_hits_the_cache(project):
    code, out = run_cli("run", project)
    assert code == 0, out
    assert "succeeded" in out
    store = store_of(project)
    first = latest(store)
    assert {e.state for e in first.values()} == {"complete"}
    assert all(e.reason == "no earlier execution" for e in first.values())
    examples = store.outputs_of(first["ingest"].id)["examples"]
    assert sum(examples.properties["row_counts"].values()) == 344
    assert os.path.isfile(os.path.join(store.outputs_of(first["publish"].id)["final"].uri, "final.json"))

    code, out = run_cli("run", project)
    assert code == 0, out
    second = latest(store)
    assert {e.state for e in second.values()} == {"cached"}
    assert second["count"].cached_from == first["count"].id
    assert store.outputs_of(second["count"].id)["report"].id == store.outputs_of(first["count"].id)["report"].id


def test_changed_parameter_reruns_with_the_reason(project):
    assert run_cli("run", project)[0] == 0
    code, out = run_cli("run", project, "--set", "params.scale=0.5")
    assert code == 0, out
    executions = latest(store_of(project))
    assert executions["ingest"].state == "cached"
    assert executions["count"].state == "complete"
    assert executions["count"].reason == "parameter `scale` changed from 1.0 to 0.5"
    assert executions["publish"].reason == "input `report` has new content"
    assert "parameter `scale` changed from 1.0 to 0.5" in out


def test_data_bytes_rerun_but_rename_and_touch_do_not(project):
    folder = os.path.dirname(project)
    assert run_cli("run", project)[0] == 0
    data = os.path.join(folder, "data", "penguins.csv")

    os.utime(data, (1, 1))  # touched: same bytes
    assert run_cli("run", project)[0] == 0
    assert latest(store_of(project))["ingest"].state == "cached"

    os.rename(data, os.path.join(folder, "data", "renamed.csv"))  # renamed: same bytes
    code, out = run_cli("run", project, "--set", "components.ingest.params.source=data/renamed.csv")
    assert code == 0, out
    assert latest(store_of(project))["ingest"].state == "cached"

    with open(os.path.join(folder, "data", "renamed.csv"), "a") as f:
        f.write("Adelie,Dream,40.0,18.0,190,3900,male,2009\n")
    code, out = run_cli("run", project, "--set", "components.ingest.params.source=data/renamed.csv")
    assert code == 0, out
    executions = latest(store_of(project))
    assert executions["ingest"].state == "complete"
    assert executions["ingest"].reason == "source `data/renamed.csv` has new content"
    assert executions["count"].reason == "input `examples` has new content"


def test_a_change_in_an_imported_helper_module_invalidates_the_cache(project):
    folder = os.path.dirname(project)
    assert run_cli("run", project)[0] == 0
    with open(os.path.join(folder, "helpers.py"), "a") as f:
        f.write("\n# a comment is a change of the code too\n")
    code, out = run_cli("run", project)
    assert code == 0, out
    executions = latest(store_of(project))
    assert executions["ingest"].state == "cached"
    assert executions["count"].state == "complete"
    assert "user code `helpers.py` changed" in executions["count"].reason


def test_deleted_outputs_are_not_a_cache_hit(project):
    assert run_cli("run", project)[0] == 0
    store = store_of(project)
    shutil.rmtree(store.outputs_of(latest(store)["count"].id)["report"].uri)
    assert run_cli("run", project)[0] == 0
    executions = latest(store)
    assert executions["count"].state == "complete"
    assert (
        executions["count"].reason == "cached outputs were changed or deleted (report: the artifact folder was deleted)"
    )


def test_a_partly_deleted_artifact_is_rerun_and_never_read_as_whole(project):
    assert run_cli("run", project)[0] == 0
    store = store_of(project)
    examples = store.outputs_of(latest(store)["ingest"].id)["examples"]
    part = sorted((Path(examples.uri) / "Split-eval").glob("*.parquet"))[0]
    relative = f"Split-eval/{part.name}"
    assert examples.manifest[relative] == part.stat().st_size  # the manifest is recorded when published
    part.unlink()

    # a consumer reading the damaged artifact fails with what is wrong, instead of computing on less data
    code, out = run_cli("run", project, "--only", "count", "--no-cache")
    assert code == 1
    assert f"no longer matches what was published: {relative} deleted" in out
    assert latest(store)["count"].state == "failed"

    # the producer is not a cache hit: it re-runs and says why; then everything downstream reads whole data
    code, out = run_cli("run", project)
    assert code == 0, out
    executions = latest(store)
    assert executions["ingest"].state == "complete"
    assert executions["ingest"].reason == f"cached outputs were changed or deleted (examples: {relative} deleted)"


def test_a_truncated_or_added_file_is_a_change_too(project):
    assert run_cli("run", project)[0] == 0
    store = store_of(project)
    report = Path(store.outputs_of(latest(store)["count"].id)["report"].uri)
    first = sorted(p for p in report.rglob("*") if p.is_file())[0]
    first.write_bytes(first.read_bytes()[:-1])
    (report / "stray.txt").write_text("x")
    assert run_cli("run", project)[0] == 0
    reason = latest(store)["count"].reason
    assert f"{first.relative_to(report).as_posix()} changed size" in reason and "stray.txt added" in reason


def test_no_cache_and_cache_false(project):
    assert run_cli("run", project)[0] == 0
    assert run_cli("run", project, "--no-cache")[0] == 0
    assert {e.reason for e in latest(store_of(project)).values()} == {"caching disabled (--no-cache)"}
    assert run_cli("run", project, "--set", "components.count.cache=false")[0] == 0
    executions = latest(store_of(project))
    assert executions["count"].reason == "caching disabled (cache: false in the pipeline file)"
    assert executions["ingest"].state == "cached"


def test_failure_skips_downstream_keeps_upstream_and_resume_finishes(project):
    with open(project, "a") as f:
        f.write("    params: {fail: true}\n  after:\n    type: steps:slow\n    inputs: {report: publish.final}\n")
    code, out = run_cli("run", project)
    assert code == 1
    assert "RuntimeError: publish was told to fail" in out
    assert "Traceback" in out
    store = store_of(project)
    run = store.list_runs(limit=1)[0]
    states = {e.component: e.state for e in store.executions(run.id)}
    assert states == {"ingest": "complete", "count": "complete", "publish": "failed", "after": "skipped"}
    log = latest(store)["publish"].log_uri
    assert log in out and os.path.isfile(log)
    assert f"--resume {run.id}" in out
    published = store.outputs_of(latest(store)["count"].id)["report"]
    assert os.path.isdir(published.uri)

    text = Path(project).read_text().replace("params: {fail: true}", "params: {fail: false}")
    Path(project).write_text(text)
    code, out = run_cli("run", project, "--resume", run.id)
    assert code == 0, out
    executions = store.executions(run.id)
    assert [e.component for e in executions] == ["ingest", "count", "publish", "after", "publish", "after"]
    assert store.get_run(run.id).state == "succeeded"


def test_only_and_from_select_components(project):
    assert run_cli("run", project)[0] == 0
    code, out = run_cli("run", project, "--only", "publish", "--no-cache")
    assert code == 0, out
    assert list(latest(store_of(project))) == ["publish"]
    code, out = run_cli("run", project, "--from", "count", "--no-cache")
    assert code == 0, out
    assert list(latest(store_of(project))) == ["count", "publish"]
    code, out = run_cli("run", project, "--only", "cuont")
    assert code != 0 and "did you mean 'count'?" in out


def test_only_without_any_earlier_output_says_what_to_run_first(project):
    code, out = run_cli("run", project, "--only", "count", "--no-cache")
    assert code == 1
    assert "run `ingest` first" in out


def test_secrets_from_the_environment_reach_neither_store_nor_logs(project, monkeypatch):
    monkeypatch.setenv("DEMO_TOKEN", "s3cr3t-t0ken-value")
    text = (
        Path(project)
        .read_text()
        .replace(
            "inputs: {report: count.report}",
            'inputs: {report: count.report}\n    params: {secret: "${env:DEMO_TOKEN}"}',
        )
    )
    Path(project).write_text(text)
    code, out = run_cli("run", project)
    assert code == 0, out
    store = store_of(project)
    publish = latest(store)["publish"]
    assert publish.parameters["secret"] == "${env:DEMO_TOKEN}"
    log = Path(publish.log_uri).read_text()
    assert "publishing with secret ***" in log and "stdout line with secret ***" in log
    db = os.path.join(os.path.dirname(project), "runs", "metadata.db")
    con = sqlite3.connect(db)
    dump = "\n".join(con.iterdump())
    assert "s3cr3t-t0ken-value" not in dump
    assert "s3cr3t-t0ken-value" not in out


def test_show_logs_lineage_and_runs_commands(project):
    assert run_cli("run", project)[0] == 0
    assert run_cli("run", project)[0] == 0
    store = store_of(project)
    first, second = store.list_runs(limit=2)[1], store.list_runs(limit=2)[0]

    code, out = run_cli("runs", "-p", project)
    assert code == 0 and first.id in out and second.id in out

    code, out = run_cli("show", first.id, "-p", project)
    assert code == 0, out
    assert "no earlier execution" in out
    assert "done" in out and "train: " in out and " rows" in out
    code, out = run_cli("show", second.id, "-p", project)
    assert "hit: reused execution" in out

    code, out = run_cli("logs", second.id, "count", "-p", project)
    assert code == 0, out
    assert "execution" in out and "done" in out

    final = store.outputs_of(latest(store)["publish"].id)["final"]
    code, out = run_cli("lineage", final.uri, "--up", "-p", project)
    assert code == 0, out
    assert "ingest" in out and "count" in out
    code, out = run_cli("lineage", str(final.id), "--format", "json", "-p", project)
    assert code == 0
    graph = json.loads(out)
    assert graph
    code, out = run_cli("lineage", final.uri, "--format", "dot", "-p", project)
    assert out.lstrip().startswith("digraph")


def test_init_writes_a_project_that_validates_and_runs(tmp_path):
    target = str(tmp_path / "starter")
    code, out = run_cli("init", target)
    assert code == 0, out
    pipeline = os.path.join(target, "pipeline.yaml")
    assert run_cli("validate", pipeline)[0] == 0
    code, out = run_cli("run", pipeline)
    assert code == 0, out
    assert "succeeded" in out
    code, out = run_cli("init", target)
    assert code != 0 and "already exist" in out


def test_live_view_on_a_terminal_ends_with_the_summary(project):
    import io

    from rich.console import Console

    from headrace.pipelines.local_runner import run_pipeline
    from headrace.pipelines.progress import LiveProgress

    screen = io.StringIO()
    pipeline = load_pipeline(project)
    progress = LiveProgress(Console(file=screen, force_terminal=True, width=120))
    result = run_pipeline(pipeline, store_of(project), progress)
    assert result.state == "succeeded"
    text = screen.getvalue()
    assert "\x1b[" in text  # drawn with terminal control codes, live
    for name in ("ingest", "count", "publish"):
        assert name in text
    assert "no earlier execution" in text and f"run {result.run_id} succeeded" in text


CLASS_COMPONENT = '''
import os

from headrace.components import Component, Context, Input, Parameters
from steps import Report


class CopyParameters(Parameters):
    suffix: str = ".copy"


class Copy(Component):
    """A user component written as a class: the same contract a built-in has."""

    inputs = {"report": Input(Report)}
    outputs = {"copy": Report}
    Parameters = CopyParameters

    def run(self, ctx: Context) -> None:
        source = ctx.inputs["report"]
        target = ctx.outputs["copy"]
        os.makedirs(target.uri, exist_ok=True)
        with open(os.path.join(source.uri, "rows.json")) as f, open(os.path.join(target.uri, "rows.json" + ctx.params.suffix), "w") as g:
            g.write(f.read())
        ctx.log.info("copied with suffix %s", ctx.params.suffix)
'''


def test_a_class_component_by_import_path_gets_caching_and_lineage(project):
    folder = os.path.dirname(project)
    with open(os.path.join(folder, "copying.py"), "w") as f:
        f.write(CLASS_COMPONENT)
    with open(project, "a") as f:
        f.write("  copy:\n    type: copying:Copy\n    inputs: {report: count.report}\n    params: {suffix: .bak}\n")
    code, out = run_cli("run", project)
    assert code == 0, out
    store = store_of(project)
    copy = latest(store)["copy"]
    assert copy.state == "complete" and copy.component_type == "copying:Copy"
    produced = store.outputs_of(copy.id)["copy"]
    assert produced.type == "Report" and os.path.isfile(os.path.join(produced.uri, "rows.json.bak"))
    assert [e.component for e in [store.producer(a.id) for a in store.inputs_of(copy.id).values()]] == ["count"]

    assert run_cli("run", project)[0] == 0
    assert latest(store)["copy"].state == "cached"
    with open(os.path.join(folder, "copying.py"), "a") as f:
        f.write("\n# changed\n")
    assert run_cli("run", project)[0] == 0
    assert latest(store)["copy"].reason == "user code `copying.py` changed"


def test_retries_rerun_a_failed_attempt_from_a_clean_output(project, tmp_path):
    counter = tmp_path / "attempts"
    with open(project, "a") as f:
        f.write(
            f"  flaky:\n    type: steps:flaky\n    inputs: {{report: count.report}}\n"
            f"    params: {{counter: '{counter}'}}\n    retries: 1\n"
        )
    code, out = run_cli("run", project)
    assert code == 0, out
    store = store_of(project)
    flaky = latest(store)["flaky"]
    assert flaky.state == "complete"
    assert counter.read_text() == "2"
    assert os.listdir(store.outputs_of(flaky.id)["out"].uri) == ["attempt-1.txt"]  # nothing of attempt 0
    log = Path(flaky.log_uri).read_text()
    assert "first attempt fails" in log and "retry 1 of 1" in log


def test_identical_work_in_one_run_is_done_once(project):
    """Two nodes with the same cache key, running in parallel: one computes, the other reuses it."""
    with open(project, "a") as f:
        f.write(
            "  twin:\n    type: ingest\n    params:\n      source: data/penguins.csv\n"
            "      splits: {train: 8, eval: 2}\n"
        )
    code, out = run_cli("run", project, "--parallelism", "4")
    assert code == 0, out
    executions = latest(store_of(project))
    assert sorted([executions["ingest"].state, executions["twin"].state]) == ["cached", "complete"]


def test_progress_a_component_reports_is_shown_while_it_runs(project):
    from headrace.pipelines.local_runner import run_pipeline
    from headrace.pipelines.progress import PlainProgress

    seen: list[tuple[str, str, str | None]] = []

    class Recording(PlainProgress):
        def update(self, node: str, state: str, note: str | None) -> None:
            seen.append((node, state, note))
            super().update(node, state, note)

    import io

    from rich.console import Console

    screen = io.StringIO()
    run_pipeline(load_pipeline(project), store_of(project), Recording(Console(file=screen, width=200)))
    assert ("ingest", "progress", "344 rows read") in seen
    assert "ingest: progress (344 rows read)" in screen.getvalue()


def test_an_artifact_folder_is_named_by_the_artifact_id_that_show_and_lineage_use(project):
    assert run_cli("run", project)[0] == 0
    store = store_of(project)
    executions = latest(store)
    report = store.outputs_of(executions["count"].id)["report"]
    assert os.path.basename(report.uri) == str(report.id)
    code, out = run_cli("show", executions["count"].run_id, "-p", project)
    assert code == 0
    assert f"Report #{report.id}" in out and report.uri in out
    code, out = run_cli("lineage", str(report.id), "-p", project, "--format", "json")
    assert code == 0
    assert json.loads(out)["root"] == f"artifact:{report.id}"
