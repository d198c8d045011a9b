"""A pipeline file to Kubeflow Pipelines v2 IR, by the kfp SDK's compiler (never hand-written IR).

One lightweight ``@dsl.component`` per node, named after it, whose body calls
``task_entry.run_node``: the local runner's ``execute_task`` on the node's
``Task``. Tasks are ordered by the YAML's edges with ``.after()``; artifacts
do not flow as KFP artifacts but through the pipeline's root and the shared
metadata store, exactly as in a local run (so lineage and caching are
headrace's). KFP's own cache is off: it keys on a task's arguments, which do
not change when the data does; headrace's content-addressed cache runs inside
the task and records the hit. The pipeline's ``params`` become pipeline
parameters; the code pack is one more, with the packed project as default.
"""

from __future__ import annotations

import keyword
import linecache
import os
import re
from dataclasses import dataclass, field
from typing import Any

from headrace.components.paths import is_uri
from headrace.pipelines.graph import Pipeline
from headrace.pipelines.kubeflow.code_pack import CodePack, pack_pipeline

CODE_PARAMETER = "headrace_code"
RUN_ID_PARAMETER = "headrace_run_id"
LOCAL_IMAGE = "headrace:local"
"""The image named in a ``--local`` compile: ``kfp.local.SubprocessRunner`` runs tasks in this Python instead."""

# registry/name[:tag][@digest], lower-case path components (the Docker reference grammar, simplified)
_IMAGE = re.compile(
    r"^(?:(?:[a-zA-Z0-9-]+\.)*[a-zA-Z0-9-]+(?::[0-9]+)?/)?[a-z0-9]+(?:[._-][a-z0-9]+)*"
    r"(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[0-9a-f]{64})?$"
)
_TYPES: dict[type, str] = {bool: "bool", int: "int", float: "float", str: "str", dict: "dict", list: "list"}


class CompileError(ValueError):
    """The pipeline cannot run on Kubeflow as written; the message names the file, the place and the fix."""


@dataclass
class Compiled:
    pipeline: Pipeline
    image: str
    pack: CodePack
    parameters: dict[str, Any]
    overrides: list[str] = field(default_factory=list)
    secret_env: dict[str, dict[str, str]] = field(default_factory=dict)
    """Environment variable -> {secret, key}: what each pod reads from Kubernetes secrets."""


def check_for_kubeflow(pipeline: Pipeline, image: str | None, *, local: bool) -> tuple[str, list[str]]:
    """The image and the overrides a task needs, or a ``CompileError`` before anything is written."""
    from headrace.pipelines.redaction import url_password

    where = pipeline.file
    written = pipeline.spec.get("metadata")
    if not written:
        raise CompileError(
            f"{where}: no metadata store: Kubeflow pods record lineage in one shared database; add "
            "`metadata: ${env:HEADRACE_METADATA}` (the pods read it from a Kubernetes secret) or "
            "`metadata: postgresql://user@host/db` (or mysql://...)"
        )
    if pipeline.metadata_url.startswith("sqlite"):
        raise CompileError(
            f"{where}: metadata: {written!r} is a SQLite file, which Kubeflow pods cannot share; use a PostgreSQL "
            "or MySQL URL, e.g. `metadata: ${env:HEADRACE_METADATA}` with postgresql://user@host/db in the secret"
        )
    for text in pipeline.overrides:
        if url_password(text.partition("=")[2]):
            raise CompileError(
                f"--set {text.partition('=')[0]}=...: the value holds a password, which would be written into the "
                "compiled pipeline; pass it through the environment instead: --set 'metadata=${env:HEADRACE_METADATA}'"
            )
    if url_password(str(written)) and "${" not in str(written):
        raise CompileError(
            f"{where}: metadata: the URL holds a password, and the pipeline file travels inside the compiled "
            "pipeline; read it from the environment instead: metadata: ${env:HEADRACE_METADATA}"
        )
    overrides = list(pipeline.overrides)
    if _on_this_machine(pipeline.root):
        if not local:
            raise CompileError(
                f"{where}: root: {pipeline.spec.get('root')!r} is a local path ({pipeline.root}), which pods on a "
                "cluster do not share; use an object-store URI (root: gs://bucket/headrace or s3://bucket/headrace), "
                "or compile with --local to run the pipeline with kfp.local on this machine"
            )
        overrides.append(f"root={pipeline.root}")  # absolute: the unpacked pipeline file lives elsewhere
    tracking = (pipeline.mlflow or {}).get("tracking_uri")
    if tracking and (tracking.startswith("sqlite") or _on_this_machine(tracking)):
        if not local:
            raise CompileError(
                f"{where}: mlflow.tracking_uri {tracking!r} is local to this machine; pods need a tracking server "
                "(mlflow.tracking_uri: http://mlflow.kubeflow:5000) or compile with --local"
            )
        overrides.append(f"mlflow.tracking_uri={tracking}")
    chosen = image or (pipeline.spec.get("kubeflow") or {}).get("image")
    if not chosen:
        if not local:
            raise CompileError(
                f"{where}: no container image: set `kubeflow: {{image: registry/headrace:TAG}}` in the pipeline file "
                "or pass --image (build it from the Dockerfile: docker build -t registry/headrace:TAG .)"
            )
        chosen = LOCAL_IMAGE
    if not _IMAGE.match(chosen):
        raise CompileError(
            f"{'--image' if image else where + ': kubeflow.image'}: {chosen!r} is not a container image reference; "
            "expected registry/name:tag (e.g. ghcr.io/acme/headrace:0.1.0), lower-case, no spaces"
        )
    return chosen, overrides


def _on_this_machine(location: str) -> bool:
    """A plain path or a ``file://`` URI: what pods on other machines cannot reach."""
    return not is_uri(location) or location.startswith("file:")


def pipeline_parameters(pipeline: Pipeline) -> dict[str, Any]:
    """The pipeline's ``params`` that become KFP pipeline parameters (not those read from the environment)."""
    shown = pipeline.spec.get("params") or {}
    found: dict[str, Any] = {}
    for name, value in pipeline.params.items():
        if "${" in str(shown.get(name, "")):
            continue  # a ${env:...} value is read in the pod; its value must not become a visible default
        if not name.isidentifier() or keyword.iskeyword(name) or name.startswith("headrace_"):
            suggestion = re.sub(r"\W", "_", name)
            raise CompileError(
                f"{pipeline.file}: params.{name}: a Kubeflow pipeline parameter needs a Python identifier as its name "
                f"(letters, digits, '_', not starting with 'headrace_'); rename it, e.g. {suggestion}"
            )
        if type(value) not in _TYPES:
            raise CompileError(
                f"{pipeline.file}: params.{name}: {value!r} has no Kubeflow parameter type; "
                "give it a string, number, boolean, list or mapping"
            )
        found[name] = value
    return found


def prepare(pipeline: Pipeline, image: str | None, *, local: bool) -> Compiled:
    chosen, overrides = check_for_kubeflow(pipeline, image, local=local)
    parameters = pipeline_parameters(pipeline)
    secret_env = dict((pipeline.spec.get("kubeflow") or {}).get("secret_env") or {})
    return Compiled(pipeline, chosen, pack_pipeline(pipeline, local=local), parameters, overrides, secret_env)


def compile_pipeline(compiled: Compiled, output: str) -> None:
    """Write the KFP v2 IR of ``compiled`` to ``output`` with kfp's compiler."""
    from kfp import compiler

    compiler.Compiler().compile(pipeline_func=build_pipeline_func(compiled), package_path=output)


def build_pipeline_func(compiled: Compiled) -> Any:
    """The ``@dsl.pipeline`` function: one task per node, in the YAML's order, with its settings."""
    from kfp import dsl

    pipeline = compiled.pipeline
    components = {name: _node_component(name, compiled) for name in pipeline.nodes}
    defaults = {CODE_PARAMETER: compiled.pack.encoded, **compiled.parameters}

    def body(**arguments: Any) -> None:
        tasks: dict[str, Any] = {}
        for name in pipeline.topological_order():
            node = pipeline.nodes[name]
            task = components[name](
                **{CODE_PARAMETER: arguments[CODE_PARAMETER], RUN_ID_PARAMETER: dsl.PIPELINE_JOB_ID_PLACEHOLDER},
                **{p: arguments[p] for p in compiled.parameters},
            )
            task.set_display_name(name)
            task.set_caching_options(False)
            for upstream in sorted(node.upstream):
                task.after(tasks[upstream])
            resources = ((pipeline.spec.get("components") or {}).get(name) or {}).get("resources") or {}
            if resources.get("cpu"):
                task.set_cpu_request(str(resources["cpu"])).set_cpu_limit(str(resources["cpu"]))
            if resources.get("memory"):
                task.set_memory_request(str(resources["memory"])).set_memory_limit(str(resources["memory"]))
            if node.retries:
                task.set_retry(num_retries=node.retries)
            for variable, source in compiled.secret_env.items():
                _secret_as_env(task, source["secret"], source["key"], variable)
            tasks[name] = task

    signature = ", ".join(f"{p}: {_type_name(v)} = _defaults[{p!r}]" for p, v in defaults.items())
    source = f"def {_identifier(pipeline.name)}({signature}) -> None:\n    _body(**locals())\n"
    namespace: dict[str, Any] = {"_defaults": defaults, "_body": body}
    exec(compile(source, f"<headrace pipeline {pipeline.name}>", "exec", dont_inherit=True), namespace)
    func = namespace[_identifier(pipeline.name)]
    return dsl.pipeline(name=pipeline.name, description=f"headrace pipeline {pipeline.name} ({pipeline.file})")(func)


def _node_component(name: str, compiled: Compiled) -> Any:
    """A lightweight component for one node: its source is generated, kfp embeds it in the IR."""
    from kfp import dsl

    function = _identifier(name)
    parameters = "".join(f", {p}: {_type_name(v)}" for p, v in compiled.parameters.items())
    params_dict = "{" + ", ".join(f"{p!r}: {p}" for p in compiled.parameters) + "}"
    source = (
        f"def {function}({CODE_PARAMETER}: str, {RUN_ID_PARAMETER}: str{parameters}) -> None:\n"
        f'    """headrace component {name!r}: the local runner\'s execute_task on its Task."""\n'
        "    from headrace.pipelines.kubeflow.task_entry import run_node\n\n"
        f"    run_node({name!r}, {CODE_PARAMETER}, {RUN_ID_PARAMETER}, {compiled.overrides!r}, {params_dict})\n"
    )
    filename = f"<headrace component {compiled.pipeline.name}.{name}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)  # kfp reads it back
    namespace: dict[str, Any] = {}
    exec(compile(source, filename, "exec", dont_inherit=True), namespace)
    return dsl.component(base_image=compiled.image, install_kfp_package=False)(namespace[function])


def _secret_as_env(task: Any, secret: str, key: str, variable: str) -> None:
    """The pod reads ``variable`` from the Kubernetes secret's key (kfp-kubernetes' platform config)."""
    from kfp import kubernetes

    kubernetes.use_secret_as_env(task, secret_name=secret, secret_key_to_env={key: variable})


def _identifier(name: str) -> str:
    text = re.sub(r"\W", "_", name)
    return f"_{text}" if text[0].isdigit() or keyword.iskeyword(text) else text


def _type_name(value: Any) -> str:
    return _TYPES[type(value)]


def output_path(pipeline: Pipeline, output: str | None) -> str:
    return output or os.path.join(os.getcwd(), f"{pipeline.name}.kfp.yaml")
