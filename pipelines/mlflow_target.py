"""Where a run is mirrored in MLflow: the tracking URI and experiment, from the pipeline file or the store alone.

Kept free of MLflow imports: the CLI and the runner ask "is mirroring on, and
where to?" on their critical path; only the background worker imports MLflow.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from headrace.components.paths import is_uri

if TYPE_CHECKING:
    from headrace.metadata.records import RunRecord
    from headrace.pipelines.graph import Pipeline

TRACKING_SCHEMES = ("sqlite", "file", "http", "https", "postgresql", "mysql", "mssql", "databricks")
"""Tracking URI schemes MLflow accepts (a plain path is a file store)."""


@dataclass(frozen=True)
class MirrorTarget:
    tracking_uri: str
    experiment: str


def tracking_uri_problem(uri: str) -> str | None:
    """What is wrong with a tracking URI as written, or None: checked when the pipeline file loads."""
    match = re.match(r"^([A-Za-z][A-Za-z0-9+.-]*):", uri)
    if match is None or len(match.group(1)) == 1:  # a plain path (or a Windows drive letter): a file store
        return None if uri.strip() else "it is empty"
    scheme = match.group(1).split("+")[0].lower()
    if scheme not in TRACKING_SCHEMES:
        return f"scheme {scheme!r} is not one MLflow tracks to ({', '.join(TRACKING_SCHEMES)})"
    if scheme in ("http", "https") and not re.match(r"^https?://[^/\s:]+(:\d+)?(/\S*)?$", uri):
        return "expected http://host[:port][/path]"
    if scheme == "sqlite" and not uri.startswith("sqlite:///"):
        return "expected sqlite:///path/to/mlflow.db (three slashes, then the path)"
    return None


def default_tracking_uri(root: str) -> str | None:
    """An embedded SQLite tracking store beside the artifacts: ``sqlite:///<root>/mlflow.db`` (local roots only)."""
    if is_uri(root):
        return None
    return f"sqlite:///{os.path.abspath(os.path.join(root, 'mlflow.db'))}"


def target_from_spec(spec: dict[str, Any], pipeline_name: str, root: str, base_dir: str) -> MirrorTarget | None:
    """The target a run's recorded pipeline asks for; None when it has no ``mlflow:`` section."""
    section = spec.get("mlflow")
    if section is None:
        return None
    from headrace.pipelines.building import absolute_url

    uri = section.get("tracking_uri")
    if uri:
        uri = absolute_url(uri, base_dir, local_paths=True)
    else:
        uri = default_tracking_uri(root)
    if uri is None:
        raise ValueError(
            f"pipeline '{pipeline_name}' keeps artifacts in {root}, where no SQLite tracking store can live; "
            "set mlflow.tracking_uri in the pipeline file (e.g. http://mlflow.example.com:5000)"
        )
    return MirrorTarget(uri, section.get("experiment") or pipeline_name)


def pipeline_tracking_uri(pipeline: Pipeline) -> str:
    """The tracking URI a loaded pipeline's ``mlflow:`` section means; "" without one (or with none usable)."""
    if not pipeline.mlflow:
        return ""
    try:
        target = target_from_spec({"mlflow": pipeline.mlflow}, pipeline.name, pipeline.root, pipeline.base_dir)
    except ValueError:  # a remote root and no tracking_uri: nothing to track to
        return ""
    return target.tracking_uri if target is not None else ""


def spec_fingerprint(spec: dict[str, Any]) -> str:
    """sha256 of the resolved pipeline as recorded (secrets as references): the same YAML, the same fingerprint."""
    import hashlib

    return hashlib.sha256(json.dumps(spec, sort_keys=True, default=str).encode()).hexdigest()


def target_from_run(run: RunRecord) -> MirrorTarget | None:
    """The target of a run as recorded in the store (its pipeline's ``mlflow:`` section), no pipeline file needed."""
    base_dir = os.path.dirname(run.pipeline_file) if run.pipeline_file else os.getcwd()
    return target_from_spec(run.spec, run.pipeline, run.root, base_dir)
