"""Analyzer values kept across runs, so that a change to the eval split alone re-runs only the transform pass.

The runner re-runs the transform when any split of its input changed, but the
analysis depends on the analyzed split alone. So a finished analysis is kept
in the component's cache folder (``Context.cache_uri``) under a key that
hashes everything its values were computed from: the analyzed split's bytes
(every part file, in order), its name, schema and row count, each op with its
arguments, the columns the Schema artifact calls categorical, the analyzer
options, and the versions of headrace, pyarrow and numpy. A run that finds
its key there starts from those values, already final, and goes straight to
the transform pass; its TransformGraph is the one the passes would have made.

Only YAML ops: a ``preprocessing_fn`` may import project modules or read
files, which the key would not see, so a plan with one is analyzed every run.
Only on the in-process engine: the driver reads the split's bytes to hash
them, which costs a fraction of an analyze pass for data small enough to run
in-process, but would mean downloading a large remote split to one machine
on the Beam engine. A cache entry that cannot be read is a miss.

The folder keeps the ``KEPT`` most recently used analyses (an entry found is
marked used): every new train split adds one, and without a bound a pipeline
retrained daily would keep a year of them.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import time
import uuid
from importlib.metadata import PackageNotFoundError, version

from headrace.components.examples_io import SplitFiles
from headrace.components.files import filesystem, read_text, write_text
from headrace.components.transform.analysis import AnalysisState
from headrace.components.transform.graph import FittedTransform
from headrace.components.transform.plan import Plan

FORMAT = "headrace.transform_analysis/1"
CHUNK = 1 << 20
KEPT = 20
"""Analyses kept per transform: the most recently used (written or reused) ones."""
STALE_STAGING_SECONDS = 3600
"""A half-written entry older than this was left by a killed run, and is removed."""


def analysis_key(plan: Plan, split: SplitFiles) -> str | None:
    """The key of the analysis of ``split`` by ``plan``; None when it is not cached (a preprocessing_fn)."""
    if plan.user is not None:
        return None
    facts = {
        "format": FORMAT,
        "versions": {name: _version(name) for name in ("headrace", "pyarrow", "numpy", "pillow")},
        "images": sorted(plan.images),
        "ops": [[op.name, op.args] for op in plan.ops],
        "categorical": sorted(set().union(*(op.categorical for op in plan.ops))),
        "options": plan.options,
        "split": [split.name, split.num_rows, [[f.name, str(f.type)] for f in split.schema]],
        "content": split_digest(split.paths),
    }
    return hashlib.sha256(json.dumps(facts, sort_keys=True, default=str).encode()).hexdigest()


def split_digest(paths: list[str]) -> str:
    """A hash of the files' bytes, in order (their names do not enter it)."""
    combined = hashlib.blake2b(digest_size=16)
    for path in paths:
        one = hashlib.blake2b(digest_size=16)
        fs, inner = filesystem(path)
        with fs.open_input_stream(inner) as stream:
            while chunk := stream.read(CHUNK):
                one.update(chunk)
        combined.update(one.digest())
    return combined.hexdigest()


def reuse_analysis(cache_uri: str, key: str, state: AnalysisState, log: logging.Logger) -> AnalysisState | None:
    """The finished analysis kept under ``key``, as a state with every value final; None when there is none."""
    path = _entry(cache_uri, key)
    try:
        entry = json.loads(read_text(path))
        values, passes = dict(entry["values"]), int(entry["passes"])
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning("transform: ignoring the unreadable analysis cache entry %s: %s", path, exc)
        return None
    log.info("transform: the analyzed split and the ops are those of an earlier run: its analyzer values are reused")
    _mark_used(path)
    return AnalysisState(
        state.plan, state.input_schema, state.split, state.rows, values, set(values), passes, done=True
    )


def keep_analysis(cache_uri: str, key: str, fitted: FittedTransform, log: logging.Logger) -> None:
    """Keep a finished analysis's frozen values under ``key`` (written aside, then moved: never read half-written)."""
    path = _entry(cache_uri, key)
    staging = f"{path}.{uuid.uuid4().hex[:8]}.tmp"
    try:
        write_text(staging, json.dumps({"values": fitted.values, "passes": fitted.analysis["passes"]}) + "\n")
        fs, inner = filesystem(staging)
        fs.move(inner, filesystem(path)[1])
    except (OSError, TypeError, ValueError) as exc:  # TypeError/ValueError: a value JSON cannot hold (bytes)
        log.warning("transform: could not keep the analysis for later runs in %s: %s", path, exc)
        return
    try:
        _prune(cache_uri)
    except OSError as exc:  # another run pruning at once, say: the next keep tries again
        log.debug("transform: could not prune the analysis cache %s: %s", cache_uri, exc)


def _mark_used(path: str) -> None:
    """A local entry's mtime set to now, so pruning keeps it (a remote store keeps its write time)."""
    import pyarrow.fs as pafs

    fs, inner = filesystem(path)
    if isinstance(fs, pafs.LocalFileSystem):
        with contextlib.suppress(OSError):
            os.utime(inner)


def _prune(cache_uri: str) -> None:
    """Remove all but the ``KEPT`` most recently used entries, and staging files a killed run left."""
    import pyarrow.fs as pafs

    fs, folder = filesystem(cache_uri.rstrip("/"))
    found = [
        i
        for i in fs.get_file_info(pafs.FileSelector(folder, allow_not_found=True))
        if i.is_file and i.base_name.startswith("analysis-")
    ]
    entries = sorted((i for i in found if i.base_name.endswith(".json")), key=lambda i: i.mtime_ns or 0, reverse=True)
    stale = time.time_ns() - STALE_STAGING_SECONDS * 1_000_000_000
    staging = [i for i in found if i.base_name.endswith(".tmp") and (i.mtime_ns or 0) < stale]
    for info in [*entries[KEPT:], *staging]:
        fs.delete_file(info.path)


def _entry(cache_uri: str, key: str) -> str:
    return f"{cache_uri.rstrip('/')}/analysis-{key[:32]}.json"


def _version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "unknown"
