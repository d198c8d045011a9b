"""The runner as real processes: concurrent runs on one store, and a run killed with SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from headrace.metadata.store import MetadataStore
from headrace.pipelines.loader import load_pipeline
from tests.projects import HEADRACE, NO_TERMINAL, headrace, headrace_on_a_terminal, make_project

SLOW = """
slow:
  type: steps:slow
  inputs: {{report: count.report}}
  params: {{marker: "{marker}"}}
"""


def _concurrent_runs(pipeline_file: str, runs: int = 4) -> None:
    with ThreadPoolExecutor(runs) as pool:
        results = list(pool.map(lambda _: headrace("run", pipeline_file), range(runs)))
    for result in results:
        assert result.returncode == 0, result.stdout + result.stderr
    store = MetadataStore(load_pipeline(pipeline_file).metadata_url)
    recorded = store.list_runs()
    assert len(recorded) == runs
    for run in recorded:
        assert run.state == "succeeded"
        executions = store.executions(run.id)
        assert {e.component for e in executions} == {"ingest", "count", "publish"}
        # nothing changed between the runs: each component either computed for the first time or reused
        # a result; it never re-runs with a made-up reason after a twin completed meanwhile
        for e in executions:
            assert e.state == "cached" or e.reason == "no earlier execution", (e.component, e.state, e.reason)


def test_two_concurrent_runs_on_one_sqlite_store(tmp_path):
    _concurrent_runs(make_project(str(tmp_path / "demo")))


@pytest.mark.parametrize("kind", ["postgresql", "mysql"])
def test_two_concurrent_runs_on_one_server_store(tmp_path, kind):
    from tests.databases import fresh_database

    with fresh_database(kind) as url:
        _concurrent_runs(make_project(str(tmp_path / "demo"), metadata=url))


def _wait_for(path: str, proc: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        if proc.poll() is not None:
            raise AssertionError(f"run ended before reaching the marker: {proc.communicate()}")
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for the component to start")
        time.sleep(0.05)


def _kill_once_only_slow_runs(proc: subprocess.Popen, store: MetadataStore) -> None:
    """SIGKILL the run while `slow` waits; `publish` runs beside it, so let that finish first (no race)."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if any(e.component == "publish" and e.state == "complete" for e in store.executions(store.list_runs()[0].id)):
            break
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def _outputs(pipeline_file: str) -> dict[str, dict[str, str]]:
    """Every component's output fingerprints in the latest run, by component and output name."""
    store = MetadataStore(load_pipeline(pipeline_file).metadata_url)
    run = store.list_runs(limit=1)[0]
    found: dict[str, dict[str, str]] = {}
    for e in store.executions(run.id):
        if e.state in ("complete", "cached"):
            found[e.component] = {name: a.fingerprint for name, a in store.outputs_of(e.id).items()}
    return found


def test_sigkill_mid_component_then_resume_matches_an_uninterrupted_run(tmp_path):
    marker = str(tmp_path / "slow-started")
    killed = make_project(str(tmp_path / "killed"), extra=SLOW.format(marker=marker))
    proc = subprocess.Popen(
        [HEADRACE, "run", killed], stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True
    )
    _wait_for(marker, proc)
    store = MetadataStore(load_pipeline(killed).metadata_url)
    _kill_once_only_slow_runs(proc, store)

    run = store.list_runs(limit=1)[0]
    assert run.state == "running"
    states = {e.component: e.state for e in store.executions(run.id)}
    assert states["slow"] == "running"
    slow = next(e for e in store.executions(run.id) if e.component == "slow")
    assert store.outputs_of(slow.id) == {}
    artifacts = os.path.join(os.path.dirname(killed), "runs", "demo", "artifacts", "slow.out")
    assert os.listdir(artifacts) == [f".staging-{slow.id}"]  # half-written, never visible as an artifact

    open(marker + ".go", "w").close()
    result = headrace("run", killed, "--resume", run.id)
    assert result.returncode == 0, result.stdout + result.stderr
    assert store.get_run(run.id).state == "succeeded"
    executions = store.executions(run.id)
    assert [e.state for e in executions if e.component == "slow"] == ["interrupted", "complete"]
    assert sorted(os.listdir(artifacts)) == [str(store.outputs_of(executions[-1].id)["out"].id)]
    assert sorted(e.component for e in executions if e.state == "complete") == ["count", "ingest", "publish", "slow"]

    clean_marker = str(tmp_path / "clean-started")
    open(clean_marker + ".go", "w").close()
    clean = make_project(str(tmp_path / "clean"), extra=SLOW.format(marker=clean_marker))
    assert headrace("run", clean).returncode == 0
    assert _outputs(killed) == _outputs(clean)


def test_resume_refuses_a_run_that_is_still_alive(tmp_path):
    marker = str(tmp_path / "slow-started")
    project = make_project(str(tmp_path / "demo"), extra=SLOW.format(marker=marker))
    proc = subprocess.Popen([HEADRACE, "run", project], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        _wait_for(marker, proc)
        store = MetadataStore(load_pipeline(project).metadata_url)
        run = store.list_runs(limit=1)[0]
        result = headrace("run", project, "--resume", run.id)
        assert result.returncode != 0
        assert "still running" in result.stderr
    finally:
        open(marker + ".go", "w").close()
        proc.wait(timeout=120)
    assert proc.returncode == 0


@pytest.mark.skipif(NO_TERMINAL, reason="needs util-linux `script` to give the run a terminal")
def test_live_view_in_a_real_terminal(tmp_path):
    """On a TTY the run draws a live table; components that print must not disturb it."""
    project = make_project(str(tmp_path / "demo"))
    returncode, screen = headrace_on_a_terminal("run", project, typescript=str(tmp_path / "typescript"), timeout=120)
    assert returncode == 0, screen
    assert "\x1b[" in screen
    assert "succeeded" in screen and "no earlier execution" in screen
    assert "stdout line with secret" not in screen  # went to the component's log file


def test_a_killed_run_shows_interrupted_and_gc_frees_what_it_left(tmp_path):
    marker = str(tmp_path / "slow-started")
    project = make_project(str(tmp_path / "demo"), extra=SLOW.format(marker=marker))
    proc = subprocess.Popen(
        [HEADRACE, "run", project], stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True
    )
    _wait_for(marker, proc)
    store = MetadataStore(load_pipeline(project).metadata_url)
    _kill_once_only_slow_runs(proc, store)
    run = store.list_runs(limit=1)[0]
    slow = next(e for e in store.executions(run.id) if e.component == "slow")
    artifacts = os.path.join(os.path.dirname(project), "runs", "demo", "artifacts", "slow.out")
    staging = os.path.join(artifacts, f".staging-{slow.id}")
    with open(os.path.join(staging, "partial.bin"), "wb") as f:
        f.write(b"x" * 50_000)
    orphan = os.path.join(artifacts, "999")  # renamed into place, row never committed
    os.makedirs(orphan)

    listed = headrace("runs", "-p", project)
    assert listed.returncode == 0
    assert "interrupted" in listed.stdout and "running" not in listed.stdout
    shown = headrace("show", run.id, "-p", project)
    assert "interrupted" in shown.stdout and "running" not in shown.stdout

    dry = headrace("gc", "-p", project)
    assert dry.returncode == 0, dry.stderr
    assert staging in dry.stdout and orphan in dry.stdout
    assert f"execution {slow.id} (slow, run {run.id}): its process died" in dry.stdout
    assert "dry run" in dry.stdout and "--yes" in dry.stdout
    assert os.path.isdir(staging) and os.path.isdir(orphan)  # a dry run removes nothing
    kept = {e.id: store.outputs_of(e.id) for e in store.executions(run.id)}

    done = headrace("gc", "-p", project, "--yes")
    assert done.returncode == 0, done.stderr
    assert "removed 2 folder(s), freed 48.8 KB" in done.stdout
    assert not os.path.exists(staging) and not os.path.exists(orphan)
    assert store.get_execution(slow.id).state == "interrupted"
    for execution_id, outputs in kept.items():  # every published artifact is still there
        assert all(os.path.isdir(a.uri) for a in outputs.values()), execution_id
    assert "nothing to clean" in headrace("gc", "-p", project).stdout

    open(marker + ".go", "w").close()
    resumed = headrace("run", project, "--resume", run.id)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert store.get_run(run.id).state == "succeeded"
