"""What a killed or failed run leaves behind in the artifact root, and removing it (``headrace gc``).

Publishing is atomic (stage, rename, commit the row), so a crash never leaves
a half-written artifact marked live, but it can leave bytes: a ``.staging-N``
folder the executor was writing when the process died, or an output folder
renamed into place whose metadata row was never committed. Neither is
referenced by the store; both are safe to delete once no live process can
still be writing them. Interrupted executions are marked as such, so
``show`` and ``--resume`` tell the truth.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pyarrow.fs as pafs

from headrace.components.files import as_location, filesystem
from headrace.metadata.liveness import observed_state
from headrace.metadata.records import ExecutionRecord
from headrace.metadata.store import MetadataStore
from headrace.pipelines.graph import Pipeline

_OUTPUT_DIR = re.compile(r"^(?P<staging>\.staging-)?(?P<number>\d+)$")
"""``.staging-<execution id>`` while an execution writes; ``<artifact id>`` once published."""


@dataclass(frozen=True)
class Leftover:
    """One folder nothing in the metadata store refers to."""

    uri: str
    bytes: int
    why: str
    half_published_by: int | None = None
    """For a folder whose publishing was interrupted: the execution whose pending artifact it holds."""


def find_leftovers(pipeline: Pipeline, store: MetadataStore) -> tuple[list[Leftover], list[ExecutionRecord]]:
    """Unreferenced folders under the pipeline's artifact root, and executions whose process died mid-run."""
    executions: dict[int, ExecutionRecord] = {}
    dead: list[ExecutionRecord] = []
    for run in store.list_runs(pipeline=pipeline.name, limit=1_000_000):
        interrupted = observed_state(run) == "interrupted"
        for execution in store.executions(run.id):
            executions[execution.id] = execution
            if execution.state == "running" and interrupted:
                dead.append(execution)
    dead_ids = {e.id for e in dead}

    fs, base = filesystem(f"{pipeline.root.rstrip('/')}/{pipeline.name}/artifacts")
    found: list[Leftover] = []
    for output_dir in _children(fs, base):
        for entry in _children(fs, output_dir):
            match = _OUTPUT_DIR.match(entry.rsplit("/", 1)[-1])
            if match is None:
                continue
            number = int(match["number"])
            artifact = None if match["staging"] else store.get_artifact(number)
            if match["staging"]:
                owner = executions.get(number)
            else:
                owner = store.producer(number) if artifact is not None else None
            if owner is not None and owner.state == "running" and owner.id not in dead_ids:
                continue  # a live process may be writing (or publishing) it right now
            uri = as_location(pipeline.root, entry)
            if match["staging"]:
                why = "staging folder of an execution that " + (
                    "was interrupted" if owner is None or owner.id in dead_ids else f"ended {owner.state}"
                )
            elif artifact is None or artifact.uri != uri:
                why = "output folder no artifact was recorded for"
            elif artifact.state in ("pending", "discarded"):
                why = "output folder whose publishing was interrupted"
            else:
                continue
            found.append(Leftover(uri, _size(fs, entry), why, owner.id if artifact and owner else None))
    return found, dead


def remove_leftovers(
    pipeline: Pipeline, store: MetadataStore, leftovers: list[Leftover], interrupted: list[ExecutionRecord]
) -> None:
    """Delete the folders and mark the dead executions `interrupted` (their runs stay resumable)."""
    for leftover in leftovers:
        fs, path = filesystem(leftover.uri)
        fs.delete_dir(path)
        if leftover.half_published_by is not None:
            store.discard_pending(leftover.half_published_by)
    for execution in interrupted:
        store.finish_execution(execution.id, "interrupted", error="the process running it died")
        store.discard_pending(execution.id)


def _children(fs: pafs.FileSystem, path: str) -> list[str]:
    try:
        infos = fs.get_file_info(pafs.FileSelector(path, allow_not_found=True))
    except (FileNotFoundError, NotADirectoryError):
        return []
    return sorted(i.path for i in infos if i.type == pafs.FileType.Directory)


def _size(fs: pafs.FileSystem, path: str) -> int:
    infos = fs.get_file_info(pafs.FileSelector(path, recursive=True, allow_not_found=True))
    return sum(i.size or 0 for i in infos if i.type == pafs.FileType.File)
