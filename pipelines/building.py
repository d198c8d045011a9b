"""The checked pieces of a pipeline file assembled into the ``Pipeline`` every runner consumes."""

from __future__ import annotations

import os
from typing import Any

from headrace.components.contract import Component
from headrace.components.marked_yaml import MarkedDocument
from headrace.components.paths import is_uri, resolve_path
from headrace.pipelines.graph import Node, Pipeline, topological_order
from headrace.pipelines.interpolating import Interpolated
from headrace.pipelines.redaction import Redactor
from headrace.pipelines.spec import ComponentSpec, PipelineSpec
from headrace.pipelines.spec_issues import get_at, set_at
from headrace.pipelines.wiring import wire_of


def build_pipeline(
    file: str,
    spec: PipelineSpec,
    nodes: dict[str, tuple[ComponentSpec, type[Component], Any]],
    interpolated: Interpolated,
    *,
    fingerprint: str,
    overrides: tuple[str, ...],
    positions: MarkedDocument | None = None,
) -> Pipeline:
    """The ``Pipeline`` of a file whose every part has been checked: paths absolute, nodes in topological order."""
    base_dir = os.path.dirname(os.path.abspath(file))
    display, secrets, env_paths = interpolated.display, interpolated.secrets, interpolated.env_paths
    redactor = Redactor(secrets, shown_as=secrets)  # a value that still holds a secret shows its ${env:VAR}
    root = resolve_path(spec.root, base_dir)
    wires = {name: {i: wire_of(ref) for i, ref in entry.inputs.items()} for name, (entry, _, _) in nodes.items()}
    order = topological_order({name: {w.node for w in ws.values() if not w.latest} for name, ws in wires.items()})
    pipeline_nodes: dict[str, Node] = {}
    for name in order:
        entry, cls, params = nodes[name]
        shown = params.model_dump(mode="json")
        for path in env_paths:
            if path[:3] == ("components", name, "params") and len(path) > 3:
                set_at(shown, path[3:], get_at(display, path), create=False)
        pipeline_nodes[name] = Node(
            name=name,
            type_name=entry.type,
            component=cls,
            params=params,
            display_params=redactor.value(shown),
            inputs=wires[name],
            cache=entry.cache,
            retries=entry.retries,
            param_positions=_param_positions(positions, name),
        )
    mlflow = spec.mlflow.model_dump() if spec.mlflow else {}
    if mlflow.get("tracking_uri"):
        mlflow["tracking_uri"] = absolute_url(mlflow["tracking_uri"], base_dir, local_paths=True)
    return Pipeline(
        name=spec.name,
        file=file,
        base_dir=base_dir,
        root=root,
        metadata_url=metadata_url(spec.metadata, root, base_dir),
        nodes=pipeline_nodes,
        beam_runner=spec.beam.runner,
        beam_options=dict(spec.beam.options),
        mlflow=mlflow,
        params=dict(spec.params),
        spec=redactor.value(display),
        secrets=frozenset(secrets),
        fingerprint=fingerprint,
        overrides=overrides,
    )


def _param_positions(positions: MarkedDocument | None, name: str) -> dict[tuple[str | int, ...], tuple[int, int]]:
    """Line and column of every value below ``components.<name>.params``, keys preferred (the op's name, say).

    A component that finds a problem in its parameters at run time (a
    selector that selects nothing) names the place in the file, as validation does.
    """
    if positions is None:
        return {}
    prefix = ("components", name, "params")
    found = {p[3:]: at for p, at in positions.values.items() if p[:3] == prefix}
    found.update({p[3:]: at for p, at in positions.keys.items() if p[:3] == prefix and len(p) > 3})
    return found


def metadata_url(url: str | None, root: str, base_dir: str) -> str:
    """The store URL as written, made absolute; by default a SQLite file beside the artifacts."""
    if url is None:
        folder = base_dir if is_uri(root) else root
        return "sqlite:///" + os.path.join(folder, "metadata.db")
    return absolute_url(url, base_dir)


def absolute_url(url: str, base_dir: str, *, local_paths: bool = False) -> str:
    """A relative sqlite path (or, for MLflow, a plain path) made absolute against the file's folder."""
    if url.startswith("sqlite:///"):
        rest = url[len("sqlite:///") :]
        database, sep, query = rest.partition("?")
        if database and database != ":memory:" and not os.path.isabs(database):
            database = os.path.normpath(os.path.join(base_dir, database))
        return "sqlite:///" + database + sep + query
    if local_paths and not is_uri(url) and ":" not in url.split("/")[0]:
        return resolve_path(url, base_dir)
    return url
