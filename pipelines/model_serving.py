"""``headrace serve``: the latest pushed model of a pipeline, a push_dir or a model, over MLflow's and TF Serving's APIs.

What to serve is found from what the user has at hand: a pipeline file (the
newest ``PushedModel`` with ``pushed: true`` that one of its pushers
published, read from the metadata store), a push directory (its highest
version) or an MLflow model directory. The server is MLflow's scoring app, the
one the infra validator checked, with TF Serving's REST predict API added
(``components/serving_app``), run in the foreground until Ctrl-C. Its TF
Serving model name is the pusher's ``model_name`` (recorded in the
``PushedModel``, or the one SavedModel folder beside the version), else
``model``; ``--model-name`` sets it.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from headrace.components import local_server, model_server, serving_app
from headrace.components.files import filesystem
from headrace.components.paths import is_uri

if TYPE_CHECKING:
    from headrace.metadata.records import ArtifactRecord

MLMODEL = "MLmodel"

DEFAULT_PORT = 5000
"""MLflow's own default; a free port is taken when something listens there."""


class ServeError(RuntimeError):
    """Nothing to serve, or the server did not start: said in words for the CLI."""


DEFAULT_MODEL_NAME = "model"
"""TF Serving's model name when nothing names it (a model directory that is no pushed version of a Keras model)."""


@dataclass(frozen=True)
class ModelToServe:
    path: str
    found: str  # how it was found, for the person reading the output
    name: str = DEFAULT_MODEL_NAME  # TF Serving's model name: /v1/models/<name>:predict

    @property
    def version(self) -> int | None:
        """The pushed version the model directory is (its folder's number), or None."""
        last = self.path.rstrip("/").rsplit("/", 1)[-1]
        return int(last) if last.isdigit() else None


def find_model(target: str) -> ModelToServe:
    """The model ``target`` means: a model directory, a push directory's newest version, or a pipeline's push."""
    if is_uri(target) or os.path.isdir(target):
        if has_model(target):
            path = target if is_uri(target) else os.path.abspath(target)
            return ModelToServe(path, "the model directory given", saved_model_name(path))
        from headrace.components.pusher.versions import newest_version

        newest = newest_version(target)
        if newest is None:
            raise ServeError(
                f"{target} is neither an MLflow model (it has no {MLMODEL} file) nor a push directory (it has no "
                "numbered version folders); give a pipeline file, a pusher's push_dir or a model directory"
            )
        return ModelToServe(newest, f"the newest version in {target}", saved_model_name(newest))
    if not os.path.isfile(target):
        raise ServeError(f"{target} does not exist; give a pipeline file, a pusher's push_dir or a model directory")
    return latest_pushed(target)


def has_model(location: str) -> bool:
    """Whether ``location`` (a path or a ``pyarrow.fs`` URI) is an MLflow model directory."""
    import pyarrow.fs as pafs

    fs, path = filesystem(location)
    return bool(fs.get_file_info(f"{path.rstrip('/')}/{MLMODEL}").type == pafs.FileType.File)


def saved_model_name(version_dir: str) -> str:
    """The pusher's ``model_name`` for a pushed version ``<push_dir>/<N>``: the one folder of ``push_dir`` holding
    a SavedModel of version N (``<push_dir>/<model_name>/<N>``), else ``DEFAULT_MODEL_NAME``."""
    import pyarrow.fs as pafs

    from headrace.components.pusher.saved_model import SAVED_MODEL_FILE

    fs, path = filesystem(version_dir)
    push_dir, _, version = path.rstrip("/").rpartition("/")
    if not version.isdigit() or not push_dir:
        return DEFAULT_MODEL_NAME
    folders = fs.get_file_info(pafs.FileSelector(push_dir, allow_not_found=True))
    names = [
        info.base_name
        for info in folders
        if info.type == pafs.FileType.Directory
        and not info.base_name.isdigit()
        and fs.get_file_info(f"{info.path}/{version}/{SAVED_MODEL_FILE}").type == pafs.FileType.File
    ]
    return names[0] if len(names) == 1 else DEFAULT_MODEL_NAME


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
    name = newest.properties.get("model_name") or saved_model_name(path)  # pushes before the pusher recorded it
    return ModelToServe(
        path, f"version {version} pushed by pipeline '{pipeline.name}' (PushedModel #{newest.id})", str(name)
    )


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
    """Serve ``model`` until interrupted; ``announce`` gets the URLs and a curl example once it answers."""
    chosen = choose_port(host, port)
    shown_host = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    url = f"http://{shown_host}:{chosen}"
    env = {**model_server.serve_env(), **serving_app.environment(model.path, model.name, model.version)}
    process = local_server.start(serving_app.command(chosen, host), env=env)

    def ready() -> None:
        try:
            model_server.wait_until_ready(process, url, timeout=180, what="the model server")
        except local_server.ServerError as exc:
            raise ServeError(str(exc)) from None
        announce(
            f"serving {model.path}\n  ({model.found})\n"
            f"  {url}/invocations  (Ctrl-C stops it)\n"
            f"  {url}/v1/models/{model.name}:predict  (TF Serving's REST API)\n"
            f"  try: {model_server.curl_example(url, model.path)}"
        )

    local_server.serve_until_interrupted(process, ready)
