"""The ``importer`` component (TFX's Importer): a file or folder made outside the pipeline, as a typed artifact.

A pretrained network, a vocabulary, a hand-made baseline: it enters the
pipeline as an artifact of the type ``artifact_type`` says, so it is wired
and type-checked like any output, appears in lineage, and carries a content
fingerprint. The source is *copied* into the artifact store: an artifact is
immutable once published, and the file it came from may be edited tomorrow.
Its bytes (not its name) enter the cache key, so editing the file re-runs the
importer and, since the artifact's content changed, everything downstream of
it; renaming or touching it re-runs nothing. Nothing is downloaded from a
model hub: the file is on this machine or at a ``pyarrow.fs`` URI.

Nothing heavy is imported here; the source is checked before the run by
reading the file system (a ``.keras`` archive by its zip entries, not by Keras).
"""

from __future__ import annotations

import builtins
import os
from typing import Annotated, Any

from pydantic import Field

from headrace.components.artifacts import Artifact, KerasModel, artifact_type, known_artifact_types
from headrace.components.contract import (
    Component,
    ComponentError,
    Context,
    DataPath,
    NeedsTensorFlow,
    ParameterProblem,
    Parameters,
)
from headrace.components.paths import is_uri, resolve_path
from headrace.components.suggestions import did_you_mean


class ImporterParameters(Parameters):
    """What to import and as which artifact type."""

    source: DataPath = Field(
        description="The file or folder to import: a path relative to the pipeline file, or a pyarrow.fs URI "
        "(gs://, s3://). Its content enters the cache key (editing it re-runs what depends on it); it is "
        "copied into the artifact store, so the artifact stays as it was imported.",
    )
    artifact_type: Annotated[str, NeedsTensorFlow(KerasModel.type_name)] = Field(
        description="The artifact type of the result, by name: KerasModel (a .keras file, the trainer's "
        "base_model), Schema, or any Artifact subclass of your components' modules; the wiring is checked "
        "against it.",
        min_length=1,
    )
    properties: dict[str, Any] = Field(
        default_factory=dict,
        description="Facts stored with the artifact and shown by `headrace show` (where the model came from, "
        "its licence).",
    )


class ImporterComponent(Component[ImporterParameters]):
    type = "importer"
    version = "1"
    description = "Registers a file or folder made outside the pipeline as an artifact of a given type."
    inputs = {}
    outputs = {"result": Artifact}
    Parameters = ImporterParameters

    @classmethod
    def output_types(cls, params: Any) -> dict[str, builtins.type[Artifact]]:
        """``result`` is of the type ``artifact_type`` names; KeyError for a name no module defines."""
        return {"result": artifact_type(params.artifact_type)}

    @classmethod
    def check_params(cls, params: ImporterParameters, base_dir: str) -> list[ParameterProblem]:
        """The artifact type exists; a local source exists (with the near names beside it) and fits the type."""
        problems = []
        known = known_artifact_types()
        if params.artifact_type not in known:
            problems.append(
                ParameterProblem(
                    ("artifact_type",),
                    f"unknown artifact type {params.artifact_type!r}",
                    did_you_mean(params.artifact_type, known) or f"known types: {', '.join(known)}",
                )
            )
        if is_uri(params.source):
            return problems  # read where it runs
        path = resolve_path(params.source, base_dir)
        if not os.path.exists(path):
            problems.append(
                ParameterProblem(
                    ("source",), f"no such file or folder {params.source!r} (looked for {path})", _near(path)
                )
            )
        elif params.artifact_type == KerasModel.type_name:
            wrong = _keras_problem(path, "folder" if os.path.isdir(path) else "file")
            if wrong:
                problems.append(ParameterProblem(("source",), f"{params.source!r}: {wrong}", KERAS_HINT))
        return problems

    def run(self, ctx: Context[ImporterParameters]) -> None:
        from headrace.components.files import copy, kind

        params = ctx.params
        source = ctx.resolve_path(params.source)
        out = ctx.outputs["result"]
        found = kind(source)
        if found is None:
            raise ComponentError(
                f"{ctx.place('source')}: no such file or folder {params.source!r} (looked for {source}); "
                "fix the path, or copy the file there (relative paths are relative to the pipeline file)"
            )
        wrong = _keras_problem(source, found) if isinstance(out, KerasModel) else None
        if wrong:
            raise ComponentError(f"{ctx.place('source')}: {params.source!r}: {wrong}; {KERAS_HINT}")
        name = os.path.basename(source.rstrip("/")) if found == "file" else None  # a folder's content is the artifact
        ctx.progress(f"copying {params.source}")
        copy(source, out.path(name) if name else out.uri)
        size = _size(out.uri)
        summary = f"imported from {params.source} ({size:,} bytes)"  # what `headrace show` says of it
        out.properties.update(
            {**params.properties, "source": params.source, "file": name, "bytes": size, "summary": summary}
        )
        ctx.metrics.log("bytes", size)
        ctx.log.info("imported %s (%d bytes) as %s", params.source, size, type(out).__name__)


KERAS_HINT = "save the network with Keras 3: model.save('base.keras') (a .keras file)"


def _keras_problem(path: str, found: str) -> str | None:
    """Why the ``found`` (file or folder) at ``path`` is not a ``.keras`` file; a local file's zip entries are read."""
    from headrace.components.keras_archive import archive_problem

    if found == "folder":
        return "a KerasModel is one .keras file, and this is a folder (a SavedModel cannot be fine-tuned as Keras)"
    if not path.endswith(".keras"):
        return "a KerasModel is a .keras file (Keras 3's format), and this file's name does not end in .keras"
    return None if is_uri(path) else archive_problem(path)


def _near(path: str) -> str:
    """Near names beside a missing file, or what is there, or that its folder is missing too."""
    folder = os.path.dirname(path)
    if not os.path.isdir(folder):
        return f"the folder {folder} does not exist either; relative paths are relative to the pipeline file"
    there = sorted(name for name in os.listdir(folder) if not name.startswith("."))
    near = did_you_mean(os.path.basename(path), there)
    if near:
        return near
    shown = ", ".join(there[:10]) + (", ..." if len(there) > 10 else "")
    return f"in {folder}: {shown}" if there else f"{folder} is empty"


def _size(uri: str) -> int:
    """Bytes of every file below ``uri``."""
    import pyarrow.fs as pafs

    from headrace.components.files import filesystem

    fs, path = filesystem(uri)
    infos = fs.get_file_info(pafs.FileSelector(path, recursive=True))
    return sum(info.size or 0 for info in infos if info.type == pafs.FileType.File)
