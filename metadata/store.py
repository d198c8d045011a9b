"""The metadata store: runs, executions, artifacts and the events linking them.

SQLAlchemy Core over SQLite (default, one file) or a PostgreSQL / MySQL
server shared by Kubeflow pods. Every write is one short transaction so that
several processes can write at once: on SQLite writes start with
``BEGIN IMMEDIATE`` (take the write lock up front and wait for it, instead of
failing with "database is locked" when a read transaction tries to upgrade),
on the servers they run at READ COMMITTED and are retried on deadlock.

Timestamps are returned as timezone-aware UTC datetimes (stored naive UTC).
"""

from __future__ import annotations

import hashlib
import os
import secrets
import socket
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa

from headrace.metadata import tables as t
from headrace.metadata.engines import dispose_engines, engine_for, is_retryable, normalize_url
from headrace.metadata.lineage import LineageGraph, trace
from headrace.metadata.migrations import SchemaTooNewError, ensure_schema_once, upgrade
from headrace.metadata.records import ArtifactRecord, ExecutionRecord, RunRecord, says_blessed

__all__ = [
    "MetadataStore",
    "SchemaTooNewError",
    "dispose_engines",
    "engine_for",
    "normalize_url",
    "upgrade",
]

RUN_STATES = ("running", "succeeded", "failed")
EXECUTION_STATES = ("running", "complete", "cached", "failed", "skipped", "interrupted")
_FINISHED_EXECUTION_STATES = frozenset(EXECUTION_STATES) - {"running"}
LOOKUP_BATCH = 500
"""Content fingerprints read or written per statement (well under every server's limit on bound parameters)."""

T = TypeVar("T")

# --------------------------------------------------------------------------- rows -> records


def _now() -> datetime:
    return datetime.now(UTC)


def _uri_hash(uri: str) -> str:
    return hashlib.sha256(uri.encode("utf-8")).hexdigest()


def _run(row: sa.Row[Any]) -> RunRecord:
    return RunRecord(
        id=row.id,
        pipeline=row.pipeline,
        state=row.state,
        started_at=row.started_at,
        ended_at=row.ended_at,
        pipeline_file=row.pipeline_file or "",
        root=row.root or "",
        spec=row.spec or {},
        host=row.host or "",
        pid=row.pid,
    )


def _execution(row: sa.Row[Any]) -> ExecutionRecord:
    return ExecutionRecord(
        id=row.id,
        run_id=row.run_id,
        component=row.component,
        component_type=row.component_type,
        component_version=row.component_version,
        state=row.state,
        parameters=row.parameters or {},
        cache_key=row.cache_key,
        cache_inputs=row.cache_inputs or {},
        reason=row.reason,
        cached_from=row.cached_from,
        started_at=row.started_at,
        ended_at=row.ended_at,
        error=row.error,
        log_uri=row.log_uri,
        metrics=row.metrics or {},
    )


def _artifact(row: sa.Row[Any]) -> ArtifactRecord:
    return ArtifactRecord(
        id=row.id,
        type=row.type,
        uri=row.uri,
        state=row.state,
        properties=row.properties or {},
        fingerprint=row.fingerprint,
        created_at=row.created_at,
        manifest=row.manifest,
    )


def _running(run_id: str, pipeline: str, spec: dict[str, Any], pipeline_file: str, root: str) -> RunRecord:
    """A new run, started now by this process on this host (which ``observed_state`` checks later)."""
    return RunRecord(
        id=run_id,
        pipeline=pipeline,
        state="running",
        started_at=_now(),
        pipeline_file=pipeline_file,
        root=root,
        spec=spec,
        host=socket.gethostname(),
        pid=os.getpid(),
    )


def _check_state(state: str, allowed: Iterable[str], what: str) -> None:
    if state not in allowed:
        raise ValueError(f"{what} state must be one of {list(allowed)}, not {state!r}")


_ARTIFACT_COLUMNS = [c for c in t.artifacts.c if c.name != "uri_hash"]

# --------------------------------------------------------------------------- the store


class MetadataStore:
    """Runs, executions, artifacts and lineage in one SQL database.

    Safe to share between threads and between processes: it holds no state but
    the (per-process) engine, and every method is one short transaction.
    """

    def __init__(self, url: str) -> None:
        self.url = normalize_url(url)
        self._engine = engine_for(self.url)
        ensure_schema_once(self.url, self._engine)

    def __repr__(self) -> str:
        return f"MetadataStore({self._engine.url.render_as_string(hide_password=True)!r})"

    def __enter__(self) -> MetadataStore:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        """Nothing to release: the engine is shared per process (see dispose_engines)."""

    # ------------------------------------------------------------- transactions

    @contextmanager
    def _read(self) -> Iterator[sa.Connection]:
        with self._engine.connect() as conn:
            yield conn.execution_options(sqlite_begin="DEFERRED")

    def _write(self, work: Callable[[sa.Connection], T]) -> T:
        """Run ``work`` in one transaction, again if the server picked it as a deadlock victim."""
        for attempt in range(8):
            try:
                with self._engine.begin() as conn:
                    return work(conn)
            except sa.exc.DBAPIError as error:
                if attempt == 7 or not is_retryable(error):
                    raise
                time.sleep(0.02 * (attempt + 1) + secrets.randbelow(20) / 1000)
        raise AssertionError("unreachable")

    # ------------------------------------------------------------- runs

    def create_run(
        self,
        pipeline: str,
        *,
        spec: dict[str, Any],
        pipeline_file: str,
        root: str,
        run_id: str | None = None,
    ) -> RunRecord:
        """Start a run, or with ``run_id``, get-or-create it.

        A generated id sorts by time and is typeable by prefix. Given an id
        (every Kubeflow pod of one run calls this with the run's id), the
        first caller creates the run and the others get that same run; an id
        taken by another pipeline's run is an error.
        """
        if run_id is not None:
            return self._get_or_create_run(pipeline, spec=spec, pipeline_file=pipeline_file, root=root, run_id=run_id)
        for _ in range(5):
            started = _now()
            record = _running(f"{started:%Y%m%d-%H%M%S}-{secrets.token_hex(3)}", pipeline, spec, pipeline_file, root)
            record.started_at = started
            statement = t.runs.insert().values(**vars(record))

            def insert(conn: sa.Connection, statement: Any = statement) -> None:
                conn.execute(statement)

            try:
                self._write(insert)
                return record
            except sa.exc.IntegrityError:
                continue
        raise RuntimeError("could not generate a unique run id after 5 attempts")

    def _get_or_create_run(
        self, pipeline: str, *, spec: dict[str, Any], pipeline_file: str, root: str, run_id: str
    ) -> RunRecord:
        existing = self._run_by_id(run_id)
        if existing is None:
            record = _running(run_id, pipeline, spec, pipeline_file, root)
            values = dict(vars(record))
            try:
                self._write(lambda c: c.execute(t.runs.insert().values(**values)))
                return record
            except sa.exc.IntegrityError:  # another process created it a moment ago
                existing = self._run_by_id(run_id)
                if existing is None:
                    raise
        if existing.pipeline != pipeline:
            raise ValueError(
                f"run id {run_id!r} is taken by a run of pipeline '{existing.pipeline}' in {self!r}, "
                f"not of '{pipeline}'; choose another run id"
            )
        return existing

    def _run_by_id(self, run_id: str) -> RunRecord | None:
        with self._read() as conn:
            row = conn.execute(sa.select(t.runs).where(t.runs.c.id == run_id)).first()
        return _run(row) if row is not None else None

    def set_run_state(self, run_id: str, state: str) -> None:
        """Finish a run, or claim it again for this process (``--resume``)."""
        _check_state(state, RUN_STATES, "run")
        if state == "running":
            values: dict[str, Any] = {"ended_at": None, "host": socket.gethostname(), "pid": os.getpid()}
        else:
            values = {"ended_at": _now()}
        stmt = t.runs.update().where(t.runs.c.id == run_id).values(state=state, **values)
        if self._write(lambda c: c.execute(stmt).rowcount) == 0:
            raise ValueError(f"no run {run_id!r} in {self!r}")

    def get_run(self, run_id: str) -> RunRecord | None:
        """The run with this id, or with a unique prefix of it (like git hashes)."""
        with self._read() as conn:
            row = conn.execute(sa.select(t.runs).where(t.runs.c.id == run_id)).first()
            if row is not None:
                return _run(row)
            pattern = run_id.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            rows = conn.execute(
                sa.select(t.runs).where(t.runs.c.id.like(pattern, escape="\\")).order_by(t.runs.c.id).limit(11)
            ).all()
        if len(rows) > 1:
            names = ", ".join(r.id for r in rows[:10]) + (", ..." if len(rows) > 10 else "")
            raise ValueError(f"run id prefix {run_id!r} is ambiguous: it matches {names}")
        return _run(rows[0]) if rows else None

    def list_runs(self, pipeline: str | None = None, limit: int = 50) -> list[RunRecord]:
        """Runs, newest first."""
        stmt = sa.select(t.runs).order_by(t.runs.c.started_at.desc(), t.runs.c.id.desc()).limit(limit)
        if pipeline is not None:
            stmt = stmt.where(t.runs.c.pipeline == pipeline)
        with self._read() as conn:
            return [_run(r) for r in conn.execute(stmt)]

    # ------------------------------------------------------------- executions

    def create_execution(
        self,
        run_id: str,
        component: str,
        component_type: str,
        component_version: str,
        *,
        parameters: dict[str, Any],
        cache_key: str | None,
        cache_inputs: dict[str, Any],
        reason: str | None = None,
        log_uri: str | None = None,
        state: str = "running",
        inputs: dict[str, int] | None = None,
        outputs: dict[str, int] | None = None,
        cached_from: int | None = None,
        metrics: dict[str, float] | None = None,
        resolutions: dict[str, str] | None = None,
    ) -> ExecutionRecord:
        """Record that a component starts, or, already finished, a cache hit or a skip.

        ``inputs`` and ``outputs`` (name -> artifact id; a cache hit's outputs are
        the artifacts it reuses) are recorded in the same transaction: one
        transaction instead of several keeps a cached component's cost in the
        low milliseconds, which is most of what a pipeline rerun costs.
        ``resolutions`` (input name -> rule) marks inputs taken from an
        earlier run, e.g. ``{"baseline": "latest blessed"}``.
        """
        _check_state(state, EXECUTION_STATES, "execution")
        now = _now()
        values: dict[str, Any] = {
            "run_id": run_id,
            "component": component,
            "component_type": component_type,
            "component_version": component_version,
            "state": state,
            "parameters": parameters,
            "cache_key": cache_key,
            "cache_inputs": cache_inputs,
            "reason": reason,
            "log_uri": log_uri,
            "cached_from": cached_from,
            "metrics": metrics or {},
            "started_at": now,
            "ended_at": None if state == "running" else now,
        }

        def insert(conn: sa.Connection) -> int:
            new = _inserted_id(conn.execute(t.executions.insert().values(**values)))
            _insert_event_rows(conn, new, "input", inputs or {}, resolutions)
            _insert_event_rows(conn, new, "output", outputs or {})
            return new

        return ExecutionRecord(id=self._write(insert), **values)

    def finish_execution(
        self,
        execution_id: int,
        state: str,
        *,
        error: str | None = None,
        metrics: dict[str, float] | None = None,
        cached_from: int | None = None,
        publish: Iterable[int] = (),
    ) -> None:
        """Record how an execution ended; ``publish``: its reserved artifacts, whose files are in place, go live.

        Both in one transaction: an execution is never complete with outputs
        still pending, nor are its outputs live while it still says running.
        """
        _check_state(state, _FINISHED_EXECUTION_STATES, "finished execution")
        values: dict[str, Any] = {"state": state, "ended_at": _now(), "error": error}
        if metrics is not None:
            values["metrics"] = metrics
        if cached_from is not None:
            values["cached_from"] = cached_from
        self._update_execution(execution_id, values, publish=list(publish))

    def _update_execution(self, execution_id: int, values: dict[str, Any], publish: list[int] | None = None) -> None:
        stmt = t.executions.update().where(t.executions.c.id == execution_id).values(**values)

        def work(conn: sa.Connection) -> int:
            if publish:
                conn.execute(t.artifacts.update().where(t.artifacts.c.id.in_(publish)).values(state="live"))
            return int(conn.execute(stmt).rowcount)

        if self._write(work) == 0:
            raise ValueError(f"no execution {execution_id} in {self!r}")

    def get_execution(self, execution_id: int) -> ExecutionRecord | None:
        with self._read() as conn:
            row = conn.execute(sa.select(t.executions).where(t.executions.c.id == execution_id)).first()
        return _execution(row) if row is not None else None

    def executions(self, run_id: str) -> list[ExecutionRecord]:
        """A run's executions in creation order."""
        stmt = sa.select(t.executions).where(t.executions.c.run_id == run_id).order_by(t.executions.c.id)
        with self._read() as conn:
            return [_execution(r) for r in conn.execute(stmt)]

    def cache_candidates(self, cache_key: str, *, running: bool = False) -> list[ExecutionRecord]:
        """Completed executions with this key (and, with ``running``, those computing it now), newest first.

        Cache hits themselves are left out: a hit points at the execution that
        really made the outputs, never at another hit. One query serves both
        the cache lookup and "is someone computing this right now?".
        """
        states = ("complete", "running") if running else ("complete",)
        stmt = (
            sa.select(t.executions)
            .where(t.executions.c.cache_key == cache_key, t.executions.c.state.in_(states))
            .order_by(t.executions.c.id.desc())
        )
        with self._read() as conn:
            return [_execution(r) for r in conn.execute(stmt)]

    def previous_execution(
        self, pipeline: str, component: str, before_run: str | None = None
    ) -> ExecutionRecord | None:
        """The last successful (or cached) execution of a node, to explain why it re-ran."""
        e, r = t.executions, t.runs
        stmt = (
            sa.select(e)
            .join(r, r.c.id == e.c.run_id)
            .where(r.c.pipeline == pipeline, e.c.component == component)
            .where(e.c.state.in_(("complete", "cached")))
            .order_by(e.c.id.desc())
            .limit(1)
        )
        if before_run is not None:
            stmt = stmt.where(e.c.run_id != before_run)
        with self._read() as conn:
            row = conn.execute(stmt).first()
        return _execution(row) if row is not None else None

    # ------------------------------------------------------------- artifacts & events

    def reserve_outputs(
        self, execution_id: int, outputs: dict[str, dict[str, Any]], uri_for: Callable[[str, int], str]
    ) -> dict[str, ArtifactRecord]:
        """Insert an execution's output artifacts as ``pending``, with their events, in ONE transaction.

        The row's id is the artifact's id everywhere, so ``uri_for(output, id)``
        names its final location after it; the caller moves the files there and
        then ``finish_execution(..., publish=ids)`` makes them live. A reader never sees an artifact without its
        producer, nor half of an execution's outputs; ``latest_artifact`` and
        cache hits see only ``live`` ones.
        """
        created = _now()

        def work(conn: sa.Connection) -> dict[str, ArtifactRecord]:
            reserved: dict[str, ArtifactRecord] = {}
            for name, spec in outputs.items():
                values = {
                    "type": spec["type"],
                    "uri": "",
                    "uri_hash": _uri_hash(""),
                    "state": "pending",
                    "properties": spec.get("properties") or {},
                    "fingerprint": spec.get("fingerprint"),
                    "created_at": created,
                    "manifest": spec.get("manifest"),
                }
                new_id = _inserted_id(conn.execute(t.artifacts.insert().values(**values)))
                uri = uri_for(name, new_id)
                conn.execute(
                    t.artifacts.update().where(t.artifacts.c.id == new_id).values(uri=uri, uri_hash=_uri_hash(uri))
                )
                conn.execute(
                    t.events.insert().values(execution_id=execution_id, artifact_id=new_id, kind="output", name=name)
                )
                del values["uri_hash"]
                reserved[name] = ArtifactRecord(id=new_id, **{**values, "uri": uri})
            return reserved

        return self._write(work)

    def discard_pending(self, execution_id: int) -> list[ArtifactRecord]:
        """Mark the ``pending`` outputs of a dead execution ``discarded``; returns them (their folders may remain)."""
        pending = [a for a in self.outputs_of(execution_id).values() if a.state == "pending"]
        ids = [a.id for a in pending]
        if ids:
            self._write(
                lambda conn: conn.execute(
                    t.artifacts.update().where(t.artifacts.c.id.in_(ids)).values(state="discarded")
                )
            )
        return pending

    def _artifacts_of(self, execution_id: int, kind: str) -> dict[str, ArtifactRecord]:
        a, ev = t.artifacts, t.events
        stmt = (
            sa.select(ev.c.name, *_ARTIFACT_COLUMNS)
            .join(a, a.c.id == ev.c.artifact_id)
            .where(ev.c.execution_id == execution_id, ev.c.kind == kind)
            .order_by(ev.c.id)
        )
        with self._read() as conn:
            return {row.name: _artifact(row) for row in conn.execute(stmt)}

    def inputs_of(self, execution_id: int) -> dict[str, ArtifactRecord]:
        return self._artifacts_of(execution_id, "input")

    def outputs_of(self, execution_id: int) -> dict[str, ArtifactRecord]:
        return self._artifacts_of(execution_id, "output")

    def input_resolutions(self, execution_id: int) -> dict[str, str]:
        """Inputs of the execution taken from an earlier run, with the rule that chose each."""
        ev = t.events
        stmt = sa.select(ev.c.name, ev.c.resolution).where(
            ev.c.execution_id == execution_id, ev.c.kind == "input", ev.c.resolution.is_not(None)
        )
        with self._read() as conn:
            return {row.name: row.resolution for row in conn.execute(stmt)}

    def get_artifact(self, artifact_id: int) -> ArtifactRecord | None:
        with self._read() as conn:
            row = conn.execute(sa.select(*_ARTIFACT_COLUMNS).where(t.artifacts.c.id == artifact_id)).first()
        return _artifact(row) if row is not None else None

    def find_artifact(self, ref: str) -> ArtifactRecord | None:
        """An artifact by id ("12"), URI, or a local path to its directory."""
        ref = ref.strip()
        if ref.isdigit():
            return self.get_artifact(int(ref))
        candidates = {ref, ref.rstrip("/")}
        if "://" not in ref:
            absolute = os.path.abspath(os.path.expanduser(ref))
            candidates |= {absolute, os.path.realpath(absolute), Path(absolute).as_uri()}
        elif ref.startswith("file://"):
            candidates.add(ref[len("file://") :])
        candidates.discard("")
        stmt = (
            sa.select(*_ARTIFACT_COLUMNS)
            .where(t.artifacts.c.uri_hash.in_([_uri_hash(c) for c in candidates]))
            .order_by(t.artifacts.c.id.desc())
        )
        with self._read() as conn:
            for row in conn.execute(stmt):
                if row.uri in candidates:
                    return _artifact(row)
        return None

    def latest_artifact(
        self, type_name: str, component: str | None = None, pipeline: str | None = None
    ) -> ArtifactRecord | None:
        """The newest live artifact of a type, optionally as output by a node of a pipeline.

        With a component or pipeline, "newest" means output by the most recent
        execution, so a cache hit in the latest run returns the artifact it
        reused, i.e. what that run really used downstream.
        """
        a, ev, e, r = t.artifacts, t.events, t.executions, t.runs
        stmt = sa.select(*_ARTIFACT_COLUMNS).where(a.c.type == type_name, a.c.state == "live")
        if component is None and pipeline is None:
            stmt = stmt.order_by(a.c.id.desc())
        else:
            stmt = stmt.join(ev, (ev.c.artifact_id == a.c.id) & (ev.c.kind == "output")).join(
                e, e.c.id == ev.c.execution_id
            )
            if component is not None:
                stmt = stmt.where(e.c.component == component)
            if pipeline is not None:
                stmt = stmt.join(r, r.c.id == e.c.run_id).where(r.c.pipeline == pipeline)
            stmt = stmt.order_by(e.c.id.desc(), a.c.id.desc())
        with self._read() as conn:
            row = conn.execute(stmt.limit(1)).first()
        return _artifact(row) if row is not None else None

    def latest_output(
        self,
        pipeline: str,
        component: str,
        output: str,
        *,
        exclude_run: str | None = None,
        accept: Callable[[ArtifactRecord], bool] | None = None,
    ) -> ArtifactRecord | None:
        """The newest live artifact that ``component.output`` of ``pipeline`` produced (or reused) successfully.

        Only completed or cached executions count: the outputs a failed gate
        published are evidence, not results to build on. ``exclude_run`` leaves
        out the current run; ``accept`` filters the candidates, newest first
        (e.g. ``is_blessed``).
        """
        a, ev, e, r = t.artifacts, t.events, t.executions, t.runs
        stmt = (
            sa.select(*_ARTIFACT_COLUMNS)
            .join(ev, (ev.c.artifact_id == a.c.id) & (ev.c.kind == "output"))
            .join(e, e.c.id == ev.c.execution_id)
            .join(r, r.c.id == e.c.run_id)
            .where(r.c.pipeline == pipeline, e.c.component == component, ev.c.name == output)
            .where(e.c.state.in_(("complete", "cached")), a.c.state == "live")
            .order_by(e.c.id.desc(), a.c.id.desc())
        )
        if exclude_run is not None:
            stmt = stmt.where(e.c.run_id != exclude_run)
        seen: set[int] = set()
        with self._read() as conn:
            rows = conn.execute(stmt if accept is not None else stmt.limit(1)).all()
        for row in rows:
            record = _artifact(row)
            if record.id in seen:
                continue
            seen.add(record.id)
            if accept is None or accept(record):
                return record
        return None

    def blessings(self, artifact: ArtifactRecord, pipeline: str | None = None) -> list[ArtifactRecord]:
        """The live ``ModelBlessing``s made from the artifact, newest first.

        Made from it: output by an execution that read the artifact as its
        ``model`` input (an evaluator, or ``headrace bless``); an evaluator's
        ``baseline`` input is not what its blessing judges. With ``pipeline``,
        only blessings recorded in that pipeline's runs count: a model that
        two pipelines share through the cache is blessed by each on its own terms.
        """
        a, e, r = t.artifacts, t.executions, t.runs
        ev_in, ev_out = t.events.alias("ev_in"), t.events.alias("ev_out")
        stmt = (
            sa.select(*_ARTIFACT_COLUMNS)
            .join(ev_out, (ev_out.c.artifact_id == a.c.id) & (ev_out.c.kind == "output"))
            .join(ev_in, (ev_in.c.execution_id == ev_out.c.execution_id) & (ev_in.c.kind == "input"))
            .where(ev_in.c.artifact_id == artifact.id, ev_in.c.name == "model")
            .where(a.c.type == "ModelBlessing", a.c.state == "live")
            .order_by(a.c.id.desc())
        )
        if pipeline is not None:
            stmt = (
                stmt.join(e, e.c.id == ev_out.c.execution_id)
                .join(r, r.c.id == e.c.run_id)
                .where(r.c.pipeline == pipeline)
            )
        with self._read() as conn:
            found = {row.id: _artifact(row) for row in conn.execute(stmt)}  # a cache hit re-links the same blessing
        return list(found.values())

    def is_blessed(self, artifact: ArtifactRecord, pipeline: str | None = None) -> bool:
        """Whether one of the artifact's ``blessings`` (in ``pipeline``, when given) says ``blessed: true``."""
        return any(says_blessed(b.properties) for b in self.blessings(artifact, pipeline))

    def producer(self, artifact_id: int) -> ExecutionRecord | None:
        """The execution that made the artifact: its earliest output event (later ones are cache hits)."""
        e, ev = t.executions, t.events
        stmt = (
            sa.select(e)
            .join(ev, ev.c.execution_id == e.c.id)
            .where(ev.c.artifact_id == artifact_id, ev.c.kind == "output")
            .order_by(ev.c.id)
            .limit(1)
        )
        with self._read() as conn:
            row = conn.execute(stmt).first()
        return _execution(row) if row is not None else None

    def run_of_artifact(self, artifact_id: int) -> RunRecord | None:
        execution = self.producer(artifact_id)
        return self.get_run(execution.run_id) if execution is not None else None

    def consumers(self, artifact_id: int) -> list[tuple[ExecutionRecord, str]]:
        """Executions that took the artifact as an input, with the input's name, oldest first."""
        e, ev = t.executions, t.events
        stmt = (
            sa.select(ev.c.name.label("event_name"), e)
            .join(ev, ev.c.execution_id == e.c.id)
            .where(ev.c.artifact_id == artifact_id, ev.c.kind == "input")
            .order_by(ev.c.id)
        )
        with self._read() as conn:
            return [(_execution(row), row.event_name) for row in conn.execute(stmt)]

    def derived_artifacts(self, artifact_id: int) -> list[ArtifactRecord]:
        """Everything made, directly or not, from the artifact (e.g. to invalidate it), by id."""
        ev = t.events
        consumed_by = sa.select(ev.c.execution_id).where(ev.c.kind == "input")
        seen: set[int] = {artifact_id}
        frontier = {artifact_id}
        with self._read() as conn:
            while frontier:
                executions = consumed_by.where(ev.c.artifact_id.in_(frontier))
                produced = conn.execute(
                    sa.select(ev.c.artifact_id)
                    .where(ev.c.kind == "output", ev.c.execution_id.in_(executions))
                    .distinct()
                ).scalars()
                frontier = set(produced) - seen
                seen |= frontier
            seen.discard(artifact_id)
            if not seen:
                return []
            rows = conn.execute(
                sa.select(*_ARTIFACT_COLUMNS).where(t.artifacts.c.id.in_(seen)).order_by(t.artifacts.c.id)
            )
            return [_artifact(r) for r in rows]

    def lineage(self, artifact_id: int, direction: str = "up") -> LineageGraph:
        """What the artifact was made from ("up") or what was made from it ("down")."""
        return trace(self, artifact_id, direction)

    # ------------------------------------------------------------- content fingerprints

    def remembered_fingerprints(self, files: Sequence[tuple[str, int, int]]) -> dict[str, str]:
        """The content hashes of ``files`` (uri, size, mtime_ns) that have not changed since they were hashed.

        One query per ``LOOKUP_BATCH`` files, not one per file: a cached run of a pipeline over an image folder
        asks for every image's hash, and a query each cost more than the rest of the run.
        """
        cf = t.content_fingerprints
        wanted = {_uri_hash(uri): (uri, size, mtime_ns) for uri, size, mtime_ns in files}
        hashes = list(wanted)
        found: dict[str, str] = {}
        with self._read() as conn:
            for start in range(0, len(hashes), LOOKUP_BATCH):
                batch = hashes[start : start + LOOKUP_BATCH]
                stmt = sa.select(cf.c.uri_hash, cf.c.uri, cf.c.size, cf.c.mtime_ns, cf.c.fingerprint).where(
                    cf.c.uri_hash.in_(batch)
                )
                for row in conn.execute(stmt):
                    if (row.uri, row.size, row.mtime_ns) == wanted[row.uri_hash]:
                        found[row.uri] = row.fingerprint
        return found

    def remember_fingerprints(self, rows: Sequence[tuple[str, int, int, str]]) -> None:
        """Upsert (uri, size, mtime_ns, fingerprint) rows in one transaction, one row per file.

        Safe when two processes hash the same files at once: the rows go in the order of their key, so two
        writers lock them in the same order and cannot deadlock each other.
        """
        latest = {_uri_hash(uri): (uri, size, mtime_ns, fingerprint) for uri, size, mtime_ns, fingerprint in rows}
        if not latest:
            return
        values = [
            {"uri_hash": key, "uri": uri, "size": size, "mtime_ns": mtime_ns, "fingerprint": fingerprint}
            for key, (uri, size, mtime_ns, fingerprint) in sorted(latest.items())
        ]
        dialect = self._engine.dialect.name
        changed = ("uri", "size", "mtime_ns", "fingerprint")
        if dialect in ("mysql", "mariadb"):
            from sqlalchemy.dialects.mysql import insert as mysql_insert

            mysql_stmt = mysql_insert(t.content_fingerprints)
            stmt: Any = mysql_stmt.on_duplicate_key_update({k: mysql_stmt.inserted[k] for k in changed})
        else:
            if dialect == "postgresql":
                from sqlalchemy.dialects.postgresql import insert
            else:
                from sqlalchemy.dialects.sqlite import insert  # type: ignore[assignment]
            upsert = insert(t.content_fingerprints)
            stmt = upsert.on_conflict_do_update(
                index_elements=["uri_hash"], set_={k: upsert.excluded[k] for k in changed}
            )

        def write(conn: sa.Connection) -> None:
            for start in range(0, len(values), LOOKUP_BATCH):
                conn.execute(stmt, values[start : start + LOOKUP_BATCH])

        self._write(write)


def _insert_event_rows(
    conn: sa.Connection,
    execution_id: int,
    kind: str,
    artifacts: dict[str, int],
    resolutions: dict[str, str] | None = None,
) -> None:
    if artifacts:
        how = resolutions or {}
        conn.execute(
            t.events.insert(),
            [
                {"execution_id": execution_id, "artifact_id": int(a), "kind": kind, "name": n, "resolution": how.get(n)}
                for n, a in artifacts.items()
            ],
        )


def _inserted_id(result: sa.CursorResult[Any]) -> int:
    """The primary key the database gave the row just inserted."""
    key = result.inserted_primary_key
    if key is None:
        raise RuntimeError("the database returned no primary key for the inserted row")
    return int(key[0])
