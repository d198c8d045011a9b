"""The metadata store on SQLite, PostgreSQL and MySQL/MariaDB: its API as the
runner and CLI use it, its schema versioning, and several processes writing at once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import UTC
from pathlib import Path

import pytest
import sqlalchemy as sa

from headrace.metadata import tables
from headrace.metadata.migrations import HEAD_REVISION, REVISIONS, alembic_config
from headrace.metadata.store import MetadataStore, SchemaTooNewError, dispose_engines, normalize_url, upgrade
from tests.databases import publish

REPO = Path(__file__).resolve().parents[1]


def _python(code: str, *args: str, timeout: float = 60) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen(
        [sys.executable, "-c", code, *args],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _finish(processes: list[subprocess.Popen[str]], timeout: float = 60) -> list[str]:
    outputs = []
    for process in processes:
        out, err = process.communicate(timeout=timeout)
        assert process.returncode == 0, f"worker failed:\n{err}"
        outputs.append(out)
    return outputs


def _new_run(store: MetadataStore, pipeline: str = "penguin", run_id: str | None = None):
    return store.create_run(
        pipeline, spec={"name": pipeline, "nodes": [1, 2]}, pipeline_file="/p/penguin.yaml", root="/p", run_id=run_id
    )


def _new_execution(store: MetadataStore, run_id: str, component: str = "ingest", cache_key: str | None = "k1", **more):
    return store.create_execution(
        run_id,
        component,
        component_type=component.capitalize(),
        component_version="1.0",
        parameters={"split": [0.8, 0.2]},
        cache_key=cache_key,
        cache_inputs={"examples": "sha256:abc"},
        reason="no cached execution with this key",
        log_uri="/p/runs/logs/ingest.log",
        **more,
    )


# --------------------------------------------------------------------------- runs


def test_runs_are_created_found_by_prefix_and_listed_newest_first(store: MetadataStore) -> None:
    first = _new_run(store)
    assert first.state == "running" and first.pid == os.getpid() and first.host
    assert len(first.id) == len("20261125-221503-a1b2c3") and first.id[8] == "-"
    second = _new_run(store, run_id="20990101-000000-aaaaaa")
    third = _new_run(store, run_id="20990101-000000-aaaabb")
    _new_run(store, pipeline="other")

    got = store.get_run(first.id)
    assert got == first
    assert got.started_at.tzinfo is UTC
    assert got.spec == {"name": "penguin", "nodes": [1, 2]}
    assert store.get_run("20990101-000000-aaaaa") == second
    with pytest.raises(ValueError, match=r"ambiguous.*aaaaaa.*aaaabb"):
        store.get_run("20990101-000000-aaaa")
    assert store.get_run("nope") is None
    assert store.get_run("2099%") is None  # LIKE wildcards are literal

    assert _new_run(store, run_id=second.id) == second  # get-or-create: every pod of a run may call it
    with pytest.raises(ValueError, match=r"taken by a run of pipeline 'penguin'.*not of 'other'"):
        _new_run(store, "other", run_id=second.id)

    listed = store.list_runs("penguin")
    assert [r.id for r in listed] == [third.id, second.id, first.id]
    assert len(store.list_runs()) == 4
    assert len(store.list_runs(limit=2)) == 2


def test_run_state_transitions(store: MetadataStore) -> None:
    run = _new_run(store)
    store.set_run_state(run.id, "failed")
    failed = store.get_run(run.id)
    assert failed.state == "failed" and failed.ended_at is not None and failed.ended_at >= failed.started_at
    store.set_run_state(run.id, "running")  # --resume claims it again
    resumed = store.get_run(run.id)
    assert resumed.state == "running" and resumed.ended_at is None and resumed.pid == os.getpid()
    store.set_run_state(run.id, "succeeded")
    assert store.get_run(run.id).state == "succeeded"
    with pytest.raises(ValueError, match=r"one of .*'succeeded'.* not 'done'"):
        store.set_run_state(run.id, "done")
    with pytest.raises(ValueError, match="no run 'missing'"):
        store.set_run_state("missing", "failed")


# --------------------------------------------------------------------------- executions


def test_executions_record_their_life(store: MetadataStore) -> None:
    run = _new_run(store)
    ingest = _new_execution(store, run.id)
    assert ingest.state == "running" and ingest.started_at is not None and ingest.ended_at is None
    assert store.get_execution(ingest.id) == ingest

    store.finish_execution(ingest.id, "complete", metrics={"rows": 344.0})
    done = store.get_execution(ingest.id)
    assert done.state == "complete" and done.metrics == {"rows": 344.0}
    assert done.log_uri == "/p/runs/logs/ingest.log"
    assert done.duration_s is not None and done.duration_s >= 0
    assert done.parameters == {"split": [0.8, 0.2]} and done.cache_inputs == {"examples": "sha256:abc"}

    trainer = _new_execution(store, run.id, "trainer", cache_key=None)
    store.finish_execution(trainer.id, "failed", error="Traceback ...\nValueError: boom" * 5000)
    failed = store.get_execution(trainer.id)
    assert failed.state == "failed" and failed.error.endswith("boom") and len(failed.error) > 65536
    pusher = store.create_execution(
        run.id, "pusher", "Pusher", "1", parameters={}, cache_key=None, cache_inputs={}, state="skipped"
    )
    assert pusher.ended_at is not None

    assert [e.component for e in store.executions(run.id)] == ["ingest", "trainer", "pusher"]
    assert store.get_execution(10**6) is None
    with pytest.raises(ValueError, match="not 'running'"):
        store.finish_execution(ingest.id, "running")
    with pytest.raises(ValueError, match="no execution"):
        store.finish_execution(10**6, "complete")


def test_cache_candidates_and_previous_execution(store: MetadataStore) -> None:
    run1 = _new_run(store, run_id="20260101-000000-000001")
    old = _new_execution(store, run1.id)
    store.finish_execution(old.id, "complete")
    run2 = _new_run(store, run_id="20260101-000000-000002")
    hit = _new_execution(store, run2.id)
    store.finish_execution(hit.id, "cached", cached_from=old.id)
    newer = _new_execution(store, run2.id)
    store.finish_execution(newer.id, "complete")
    failed = _new_execution(store, run2.id)
    store.finish_execution(failed.id, "failed")

    assert [e.id for e in store.cache_candidates("k1")] == [newer.id, old.id]
    assert store.cache_candidates("other") == []
    assert store.get_execution(hit.id).cached_from == old.id

    assert store.previous_execution("penguin", "ingest").id == newer.id
    assert store.previous_execution("penguin", "ingest", before_run=run2.id).id == old.id
    assert store.previous_execution("penguin", "trainer") is None
    assert store.previous_execution("other", "ingest") is None


# --------------------------------------------------------------------------- artifacts


def test_publish_link_and_find_artifacts(store: MetadataStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run = _new_run(store)
    ingest = _new_execution(store, run.id)
    examples_dir = tmp_path / "examples"
    published = publish(
        store,
        ingest.id,
        {
            "examples": {
                "type": "Examples",
                "uri": str(examples_dir),
                "properties": {"rows": 3, "splits": ["train"]},
                "fingerprint": "sha256:e",
            },
            "report": {
                "type": "Report",
                "uri": "gs://bucket/" + "r" * 3000,
                "properties": {},
                "fingerprint": "sha256:r",
            },
        },
    )
    examples = published["examples"]
    assert examples.state == "live" and examples.properties == {"rows": 3, "splits": ["train"]}
    assert store.get_artifact(examples.id) == examples
    assert store.outputs_of(ingest.id) == published
    assert store.get_artifact(10**6) is None

    stats = _new_execution(store, run.id, "stats", inputs={"examples": examples.id})
    assert store.inputs_of(stats.id) == {"examples": examples}
    assert store.inputs_of(ingest.id) == {}

    hit = _new_execution(store, run.id, outputs={"examples": examples.id})
    assert store.outputs_of(hit.id) == {"examples": examples}
    assert store.producer(examples.id).id == ingest.id  # the maker, not the cache hit
    assert store.run_of_artifact(examples.id) == run

    assert store.find_artifact(str(examples.id)) == examples
    assert store.find_artifact(str(examples_dir)) == examples
    assert store.find_artifact(examples_dir.as_uri()) == examples
    assert store.find_artifact(str(examples_dir) + "/") == examples
    monkeypatch.chdir(tmp_path)
    assert store.find_artifact("examples") == examples
    assert store.find_artifact("gs://bucket/" + "r" * 3000) == published["report"]
    assert store.find_artifact("/nowhere") is None


def test_content_fingerprint_memo_is_an_upsert(store: MetadataStore) -> None:
    uri = "/data/penguins.csv"
    assert store.remembered_fingerprints([(uri, 100, 1)]) == {}
    store.remember_fingerprints([(uri, 100, 1, "sha256:a")])
    assert store.remembered_fingerprints([(uri, 100, 1)]) == {uri: "sha256:a"}
    store.remember_fingerprints([(uri, 120, 2, "sha256:b")])  # file changed
    assert store.remembered_fingerprints([(uri, 100, 1)]) == {}
    assert store.remembered_fingerprints([(uri, 120, 2)]) == {uri: "sha256:b"}
    store.remember_fingerprints([(uri, 120, 2, "sha256:b"), (uri, 120, 2, "sha256:b")])  # same again: no error
    assert store.remembered_fingerprints([(uri, 120, 3)]) == {}


def test_content_fingerprints_of_a_large_folder_in_batches(store: MetadataStore) -> None:
    from headrace.metadata.store import LOOKUP_BATCH

    files = [(f"/images/{n:05}.png", 100 + n, n) for n in range(2 * LOOKUP_BATCH + 7)]
    store.remember_fingerprints([(uri, size, mtime, f"h{size}") for uri, size, mtime in files])
    assert store.remembered_fingerprints(files) == {uri: f"h{size}" for uri, size, _ in files}
    touched = [(uri, size, mtime + 1 if n % 100 == 0 else mtime) for n, (uri, size, mtime) in enumerate(files)]
    known = store.remembered_fingerprints(touched)
    assert len(known) == len(files) - len(range(0, len(files), 100)) and "/images/00000.png" not in known
    store.remember_fingerprints([(uri, size, mtime, "new") for uri, size, mtime in touched[::100]])
    assert store.remembered_fingerprints(touched)["/images/00100.png"] == "new"


# --------------------------------------------------------------------------- schema


def test_schema_is_versioned_and_matches_the_tables(store: MetadataStore) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    assert ScriptDirectory.from_config(alembic_config()).get_current_head() == HEAD_REVISION
    assert [s.revision for s in ScriptDirectory.from_config(alembic_config()).walk_revisions()][::-1] == list(REVISIONS)
    engine = sa.create_engine(store.url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            version = conn.execute(sa.text(f"SELECT version_num FROM {tables.VERSION_TABLE}")).scalar()
            assert version == HEAD_REVISION
            context = MigrationContext.configure(conn, opts={"version_table": tables.VERSION_TABLE})
            assert compare_metadata(context, tables.metadata) == []
    finally:
        engine.dispose()
    upgrade(store.url)  # idempotent


def test_reopening_is_one_query_without_alembic(store: MetadataStore) -> None:
    _new_run(store)
    code = (
        "import json, sys, time\n"
        "from headrace.metadata.store import MetadataStore\n"
        "s = MetadataStore(sys.argv[1])\n"
        "print(json.dumps({'alembic': 'alembic' in sys.modules, 'runs': len(s.list_runs())}))\n"
    )
    report = json.loads(_finish([_python(code, store.url)])[0])
    assert report == {"alembic": False, "runs": 1}  # how long it takes: benchmarks/store_open.py


def test_a_newer_schema_is_refused_with_a_clear_error(store: MetadataStore) -> None:
    engine = sa.create_engine(store.url, poolclass=sa.pool.NullPool)
    with engine.begin() as conn:
        conn.execute(sa.text(f"UPDATE {tables.VERSION_TABLE} SET version_num = '9999'"))
    engine.dispose()
    dispose_engines()
    with pytest.raises(
        SchemaTooNewError, match="at schema revision 9999, this headrace knows up to 0003: upgrade headrace"
    ):
        MetadataStore(store.url)
    with pytest.raises(SchemaTooNewError):
        upgrade(store.url)


def test_urls_people_type_are_mapped_to_shipped_drivers(tmp_path: Path) -> None:
    assert normalize_url("postgresql://u@h/db") == "postgresql+psycopg2://u@h/db"
    assert normalize_url("postgres://u@h/db") == "postgresql+psycopg2://u@h/db"
    assert normalize_url("mysql://root@h/db") == "mysql+pymysql://root@h/db?charset=utf8mb4"
    assert normalize_url("mysql+pymysql://root@h/db?charset=utf8") == "mysql+pymysql://root@h/db?charset=utf8"
    assert normalize_url(str(tmp_path / "m.db")) == f"sqlite:///{tmp_path / 'm.db'}"
    nested = tmp_path / "a" / "b" / "metadata.db"
    MetadataStore(f"sqlite:///{nested}")  # parent directories are created
    assert nested.exists()
    dispose_engines()


# --------------------------------------------------------------------------- several processes

_WRITER = """
import sys, time
from headrace.metadata.store import MetadataStore
url, worker, start = sys.argv[1], sys.argv[2], float(sys.argv[3])
store = MetadataStore(url)
while time.time() < start:
    time.sleep(0.001)
for r in range(10):
    run = store.create_run("load", spec={"worker": worker}, pipeline_file="load.yaml", root="/")
    previous = None
    for n in range(5):
        e = store.create_execution(run.id, f"node{n}", "Node", "1", parameters={"n": n},
                                   cache_key=f"{worker}-{r}-{n}", cache_inputs={},
                                   inputs={"in": previous} if previous is not None else None)
        out = store.reserve_outputs(e.id, {"out": {"type": "Blob", "properties": {"n": n}, "fingerprint": "f"}},
                                    lambda _o, _id: f"/w/{worker}/{r}/{n}")
        previous = out["out"].id
        store.remember_fingerprints([("/shared/data.csv", 10, n, f"{worker}"), (f"/own/{worker}", 1, n, "x")])
        store.finish_execution(e.id, "complete", metrics={"n": float(n)}, publish=[previous])
    store.set_run_state(run.id, "succeeded")
print("ok")
"""


def test_concurrent_writer_processes(store_url: str) -> None:
    store = MetadataStore(store_url)
    start = str(time.time() + 1.2)
    workers = [_python(_WRITER, store_url, f"w{i}", start) for i in range(4)]
    assert _finish(workers, timeout=120) == ["ok\n"] * 4

    runs = store.list_runs("load", limit=1000)
    assert len(runs) == 40 and {r.state for r in runs} == {"succeeded"}
    for run in runs:
        executions = store.executions(run.id)
        assert [e.component for e in executions] == [f"node{n}" for n in range(5)]
        assert {e.state for e in executions} == {"complete"}
        for e in executions:
            (out,) = store.outputs_of(e.id).values()
            assert store.producer(out.id).id == e.id
        first_output = store.outputs_of(executions[0].id)["out"].id
        assert len(store.derived_artifacts(first_output)) == 4
    assert store.remembered_fingerprints([("/shared/data.csv", 10, 4)])["/shared/data.csv"] in {"w0", "w1", "w2", "w3"}


_OPENER = """
import sys, time
from headrace.metadata.store import MetadataStore
url, start = sys.argv[1], float(sys.argv[2])
while time.time() < start:
    time.sleep(0.0005)
store = MetadataStore(url)
store.create_run("race", spec={}, pipeline_file="", root="")
print("ok")
"""


def test_processes_opening_a_brand_new_store_at_once(store_url: str) -> None:
    start = str(time.time() + 1.2)
    openers = [_python(_OPENER, store_url, start) for _ in range(3)]
    assert _finish(openers) == ["ok\n"] * 3
    assert len(MetadataStore(store_url).list_runs("race")) == 3


_RUN_CREATOR = """
import sys, time
from headrace.metadata.store import MetadataStore
url, worker, start = sys.argv[1], sys.argv[2], float(sys.argv[3])
store = MetadataStore(url)
while time.time() < start:
    time.sleep(0.0005)
run = store.create_run("pods", spec={"by": worker}, pipeline_file="p.yaml", root="/", run_id="kfp-run-1")
print(run.id, run.spec["by"], run.started_at.isoformat())
"""


def test_every_pod_of_a_run_gets_or_creates_the_same_run(store_url: str) -> None:
    """Kubeflow starts a run's tasks in separate pods, each creating the run it belongs to: one run results."""
    MetadataStore(store_url)  # the schema exists: the race is on the run row, not the migration
    start = str(time.time() + 1.2)
    pods = [_python(_RUN_CREATOR, store_url, f"pod{i}", start) for i in range(4)]
    answers = _finish(pods)
    assert len(set(answers)) == 1, answers  # all saw the same run: same creator, same start time
    (run,) = MetadataStore(store_url).list_runs("pods")
    assert run.id == "kfp-run-1" and f"kfp-run-1 {run.spec['by']} {run.started_at.isoformat()}\n" == answers[0]


def test_publishing_reserves_pending_rows_that_only_go_live_with_their_files(store: MetadataStore) -> None:
    run = _new_run(store)
    execution = _new_execution(store, run.id)
    reserved = store.reserve_outputs(
        execution.id, {"examples": {"type": "Examples", "properties": {}}}, lambda out, i: f"/artifacts/{out}/{i}"
    )
    pending = reserved["examples"]
    assert pending.state == "pending" and pending.uri == f"/artifacts/examples/{pending.id}"
    assert store.latest_artifact("Examples") is None  # nobody reads a half-published artifact
    assert store.discard_pending(execution.id) == [pending]  # the execution died before its files were in place
    assert store.get_artifact(pending.id).state == "discarded"

    again = _new_execution(store, run.id)
    reserved = store.reserve_outputs(
        again.id, {"examples": {"type": "Examples"}}, lambda out, i: f"/artifacts/{out}/{i}"
    )
    store.finish_execution(again.id, "complete", publish=[reserved["examples"].id])  # files in place: live at once
    live = store.get_artifact(reserved["examples"].id)
    assert live.state == "live" and store.latest_artifact("Examples") == live
    assert store.get_execution(again.id).state == "complete"
    assert store.discard_pending(again.id) == []
