"""``headrace serve``: ``mlflow models serve`` on the latest pushed model of a pipeline, a push_dir or a model.

What to serve is found from what the user has at hand: a pipeline file (the
newest ``PushedModel`` with ``pushed: true`` that one of its pushers
published, read from the metadata store), a push directory (its highest
version) or an MLflow model directory. The server is the same one the infra
validator checked, run in the foreground until Ctrl-C.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from headrace.components import local_server, model_server
from headrace.components.files import filesystem
from headrace.components.paths import is_uri

if TYPE_CHECKING:
    from headrace.metadata.records import ArtifactRecord

MLMODEL = "MLmodel"

DEFAULT_PORT = 5000
"""MLflow's own default; a free port is taken when something listens there."""


class ServeError(RuntimeError):
    """Nothing to serve, or the server did not start: said in words for the CLI."""


@dataclass(frozen=True)
class ModelToServe:
    path: str
    found: str  # how it was found, for the person reading the output


def find_model(target: str) -> ModelToServe:
    """The model ``target`` means: a model directory, a push directory's newest version, or a pipeline's push."""
    if is_uri(target) or os.path.isdir(target):
        if has_model(target):
            return ModelToServe(target if is_uri(target) else os.path.abspath(target), "the model directory given")
        from headrace.components.pusher.versions import newest_version

        newest = newest_version(target)
        if newest is None:
            raise ServeError(
                f"{target} is neither an MLflow model (it has no {MLMODEL} file) nor a push directory (it has no "
                "numbered version folders); give a pipeline file, a pusher's push_dir or a model directory"
            )
        return ModelToServe(newest, f"the newest version in {target}")
    if not os.path.isfile(target):
        raise ServeError(f"{target} does not exist; give a pipeline file, a pusher's push_dir or a model directory")
    return latest_pushed(target)


def has_model(location: str) -> bool:
    """Whether ``location`` (a path or a ``pyarrow.fs`` URI) is an MLflow model directory."""
    import pyarrow.fs as pafs

    fs, path = filesystem(location)
    return bool(fs.get_file_info(f"{path.rstrip('/')}/{MLMODEL}").type == pafs.FileType.File)


def latest_pushed(pipeline_file: str) -> ModelToServe:
    """The newest model a pusher of the pipeline pushed, according to its metadata store."""
    from headrace.components.pusher.component import PusherComponent
    from headrace.metadata.store import MetadataStore
    from headrace.pipelines.loader import load_pipeline

    pipeline = load_pipeline(pipeline_file)
    pushers = [name for name, node in pipeline.nodes.items() if issubclass(node.component, PusherComponent)]
    if not pushers:
        raise ServeError(
            f"{pipeline_file}: pipeline '{pipeline.name}' has no pusher component, so nothing of it is ever pushed; "
            "add one (type: pusher), or serve a model directory: headrace serve PATH/TO/MODEL"
        )
    store = MetadataStore(pipeline.metadata_url)
    found = [
        artifact
        for name in pushers
        if (artifact := store.latest_output(pipeline.name, name, "pushed_model", accept=_was_pushed)) is not None
    ]
    if not found:
        raise ServeError(
            f"no model of pipeline '{pipeline.name}' has been pushed yet ({', '.join(pushers)} never pushed: a model "
            f"is pushed once it is blessed); run `headrace run {pipeline_file}` and see `headrace show` for why not"
        )
    newest = max(found, key=lambda a: a.id)
    path = str(newest.properties.get("path", ""))
    if not has_model(path):
        raise ServeError(
            f"PushedModel #{newest.id} of pipeline '{pipeline.name}' names {path}, which holds no model any more; "
            f"push again with `headrace run {pipeline_file} --only {pushers[0]} --no-cache`"
        )
    version = newest.properties.get("version")
    return ModelToServe(path, f"version {version} pushed by pipeline '{pipeline.name}' (PushedModel #{newest.id})")


def _was_pushed(artifact: ArtifactRecord) -> bool:
    return artifact.properties.get("pushed") is True


def choose_port(host: str, port: int | None) -> int:
    """``port`` when given; else MLflow's 5000 when it is free, else any free port."""
    if port is not None:
        return port
    with socket.socket() as s:
        try:
            s.bind((host, DEFAULT_PORT))
            return DEFAULT_PORT
        except OSError:
            return local_server.free_port(host)


def serve(model: ModelToServe, host: str, port: int | None, announce: Callable[[str], None]) -> None:
    """Serve ``model`` until interrupted; ``announce`` gets the URL and a curl example once it answers."""
    chosen = choose_port(host, port)
    shown_host = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    url = f"http://{shown_host}:{chosen}"
    process = model_server.start(model.path, chosen, host)

    def ready() -> None:
        try:
            model_server.wait_until_ready(process, url, timeout=180)
        except local_server.ServerError as exc:
            raise ServeError(str(exc)) from None
        announce(
            f"serving {model.path}\n  ({model.found})\n"
            f"  {url}/invocations  (Ctrl-C stops it)\n"
            f"  try: {model_server.curl_example(url, model.path)}"
        )

    local_server.serve_until_interrupted(process, ready)
