"""The pipeline file, its user code and its small local files, packed into the compiled pipeline.

Kubeflow users rebuild an image for every code change; here the image holds
only headrace and the libraries, and ``compile`` embeds what changes with the
project: the pipeline file, the code closure of every user component (the
module and the project-local modules it imports, the very files its cache key
hashes) and the local files its parameters name (a curated schema, a small
CSV). The pack is a deterministic zip, base64-encoded, stored once in the IR
as the default of a pipeline input: the compiled file is self-contained (no
upload step, runs under ``kfp.local`` as it is), and the same project gives
byte-identical IR. Big data does not belong in it: it lives at a ``gs://`` /
``s3://`` URI, which stays as written.

A task unpacks it into a content-addressed folder before importing any user
module; the relative layout is kept, so code fingerprints (paths relative to
the pipeline's folder) and hence cache keys are the same as in a local run.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import shutil
import tempfile
import zipfile
from dataclasses import dataclass

from headrace.components.contract import CodeReference, ContentAddressed
from headrace.components.paths import is_uri, resolve_path
from headrace.pipelines.cache import field_has, leaf_paths
from headrace.pipelines.fingerprints import code_closure_files, data_files
from headrace.pipelines.graph import Pipeline

MAX_PACK_BYTES = 8 << 20
"""Files embedded in the IR, uncompressed: beyond this, data belongs in object storage."""
MANIFEST = "headrace-pack.json"
_EPOCH = (1980, 1, 1, 0, 0, 0)


class PackError(ValueError):
    """A file the pipeline needs cannot travel with it; the message names the file and the fix."""


@dataclass(frozen=True)
class CodePack:
    encoded: str
    """base64 of the zip: what the IR carries."""
    files: tuple[str, ...]
    """Member names, for the compile summary."""
    digest: str


def pack_pipeline(pipeline: Pipeline, *, local: bool, cwd: str | None = None) -> CodePack:
    """The files a task needs to load and run ``pipeline`` anywhere, packed."""
    base_dir = os.path.realpath(pipeline.base_dir)
    cwd = os.path.realpath(cwd or os.getcwd())
    project_dirs = [pipeline.base_dir, cwd]
    members: dict[str, str] = {_member(os.path.realpath(pipeline.file), base_dir, cwd): os.path.realpath(pipeline.file)}
    for node in pipeline.nodes.values():
        code_files: list[str] = []
        if node.component.code_file:
            code_files += code_closure_files(node.component.code_file, project_dirs)
        actual = node.params.model_dump(mode="json")
        for name, field in type(node.params).model_fields.items():
            value = actual.get(name)
            if value is None:
                continue
            addressed, code = field_has(field, ContentAddressed), field_has(field, CodeReference)
            if not (addressed or code):
                continue
            for dotted, _, leaf in leaf_paths(value, name):
                if is_uri(leaf):
                    continue
                location = resolve_path(leaf, pipeline.base_dir)
                if code:
                    code_files += code_closure_files(location, project_dirs)
                    continue
                inside = _under(os.path.realpath(location), base_dir) or _under(os.path.realpath(location), cwd)
                if not inside:
                    if local and os.path.isabs(leaf):
                        continue  # kfp.local runs on this machine: an absolute path stays reachable as written
                    raise PackError(
                        f"{pipeline.file}: components.{node.name}.params.{dotted}: {leaf!r} is outside the pipeline's "
                        f"folder {pipeline.base_dir}, so it cannot travel with the compiled pipeline; "
                        "put the data at a gs:// or s3:// URI (or beside the pipeline file)"
                    )
                for path in data_files(location):
                    members[_member(os.path.realpath(path), base_dir, cwd)] = os.path.realpath(path)
        for path in code_files:
            real = os.path.realpath(path)
            members[_member(real, base_dir, cwd)] = real
    total = sum(os.path.getsize(p) for p in members.values())
    if total > MAX_PACK_BYTES:
        biggest = sorted(members.items(), key=lambda item: -os.path.getsize(item[1]))[:3]
        raise PackError(
            f"{pipeline.file}: the files that travel with the compiled pipeline come to {total / 1e6:.1f} MB "
            f"(limit {MAX_PACK_BYTES / 1e6:.0f} MB), the largest: "
            + ", ".join(f"{m} ({os.path.getsize(p) / 1e6:.1f} MB)" for m, p in biggest)
            + "; put large data at a gs:// or s3:// URI and name that in the pipeline file"
        )
    manifest = {"pipeline_file": _member(os.path.realpath(pipeline.file), base_dir, cwd)}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(zipfile.ZipInfo(MANIFEST, _EPOCH), json.dumps(manifest, sort_keys=True))
        for member in sorted(members):
            with open(members[member], "rb") as f:
                info = zipfile.ZipInfo(member, _EPOCH)
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = 0o644 << 16
                archive.writestr(info, f.read())
    data = buffer.getvalue()
    return CodePack(base64.b64encode(data).decode("ascii"), tuple(sorted(members)), hashlib.sha256(data).hexdigest())


def _under(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder + os.sep)


def _member(path: str, base_dir: str, cwd: str) -> str:
    """``pipeline/<path in the pipeline's folder>``, else ``cwd/<path in the working folder>``."""
    if _under(path, base_dir):
        return "pipeline/" + os.path.relpath(path, base_dir).replace(os.sep, "/")
    if _under(path, cwd):
        return "cwd/" + os.path.relpath(path, cwd).replace(os.sep, "/")
    raise PackError(
        f"{path} is needed by the pipeline but lies outside its folder {base_dir} and the working folder {cwd}; "
        "move it into the project (or install it into the image as a package)"
    )


@dataclass(frozen=True)
class Unpacked:
    pipeline_file: str
    workdir: str
    """The working folder of the compile, re-created: project-local imports resolve from it."""


def unpack(encoded: str, into: str | None = None) -> Unpacked:
    """Extract a pack once per content into ``into`` (default: a folder under the temp dir); its paths."""
    data = base64.b64decode(encoded)
    digest = hashlib.sha256(data).hexdigest()
    parent = into or os.environ.get("HEADRACE_CODE_DIR") or os.path.join(tempfile.gettempdir(), "headrace-code")
    target = os.path.join(parent, digest[:20])
    if not os.path.isfile(os.path.join(target, MANIFEST)):
        os.makedirs(parent, exist_ok=True)
        staging = tempfile.mkdtemp(prefix=".unpacking-", dir=parent)
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            for member in archive.namelist():
                if member.startswith("/") or ".." in member.split("/"):
                    raise PackError(f"refusing to unpack {member!r}: not a relative path inside the pack")
            archive.extractall(staging)
        os.makedirs(os.path.join(staging, "cwd"), exist_ok=True)
        try:
            os.rename(staging, target)  # atomic: a concurrent task of the same run sees all of it or nothing
        except OSError:
            shutil.rmtree(staging, ignore_errors=True)  # another task unpacked the same content first
    with open(os.path.join(target, MANIFEST), encoding="utf-8") as f:
        manifest = json.load(f)
    return Unpacked(os.path.join(target, manifest["pipeline_file"]), os.path.join(target, "cwd"))
