"""The pipeline file as pydantic models: the one definition of what may be written.

The loader validates files with these models and ``headrace schema`` derives
the JSON Schema from them, so the two never disagree. Component ``params``
are a free mapping here; each component's own ``Parameters`` model checks
them once the component type is known.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Discriminator, Field, StringConstraints, Tag

from headrace.metadata.backends import unsupported_backend

NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]*$"
COMPONENT_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_-]*$"
REFERENCE_PATTERN = r"^[A-Za-z_][A-Za-z0-9_-]*\.[A-Za-z_][A-Za-z0-9_]*$"
IMPORT_PATH_PATTERN = r"^[^:\s]+:[A-Za-z_][A-Za-z0-9_]*$"
URL_PATTERN = r"^[A-Za-z][A-Za-z0-9+.-]*://"
INTERPOLATION_PATTERN = r"^\$\{[^}]+\}$"


def _reference(value: str) -> str:
    if not re.match(REFERENCE_PATTERN, value):
        raise ValueError(f"expected 'component.output' (e.g. 'ingest.examples'), got {value!r}")
    return value


def _url(value: str) -> str:
    if not re.match(URL_PATTERN, value):
        raise ValueError(
            f"expected a database URL like 'sqlite:///runs/metadata.db' or 'postgresql://host/db', got {value!r}"
        )
    scheme = unsupported_backend(value)
    if scheme is not None:
        raise ValueError(
            f"headrace cannot keep metadata in a {scheme!r} database; use sqlite:///path/metadata.db, "
            "postgresql://user@host/db or mysql://user@host/db (MariaDB too)"
        )
    return value


def _pipeline_name(value: str) -> str:
    if not re.match(NAME_PATTERN, value):
        raise ValueError(
            f"pipeline name {value!r} must be lower-case letters, digits, '-' and '_', starting with a letter or digit"
        )
    return value


Reference = Annotated[
    str,
    AfterValidator(_reference),
    Field(json_schema_extra={"pattern": REFERENCE_PATTERN}, description="An upstream output, 'component.output'."),
]
ComponentName = Annotated[str, StringConstraints(pattern=COMPONENT_NAME_PATTERN)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EarlierRunInput(Strict):
    """An input taken on purpose from an earlier run of this pipeline (TFX's Resolver).

    ``{latest: trainer.model, blessed: true}`` is the newest model of an
    earlier run that an evaluator blessed: the baseline a new model must beat.
    It does not make the component wait for ``trainer`` in this run.
    """

    latest: Reference = Field(
        description="'component.output' of this pipeline: its newest artifact from an earlier, successful execution."
    )
    blessed: bool = Field(False, description="Only a Model for which a ModelBlessing made from it says blessed: true.")


def _input_form(value: Any) -> str:
    return "earlier-run" if isinstance(value, (dict, EarlierRunInput)) else "wire"


InputSpec = Annotated[
    Annotated[Reference, Tag("wire")] | Annotated[EarlierRunInput, Tag("earlier-run")],
    Discriminator(_input_form),
]
"""A text ``'component.output'`` wire, or a mapping that takes an earlier run's artifact: errors of the form written."""


class ResourcesSpec(Strict):
    """What a component's pod asks Kubernetes for (requests and limits alike); ignored by the local runner."""

    cpu: Annotated[str, StringConstraints(pattern=r"^[0-9]+(\.[0-9]+)?m?$")] | float | None = Field(
        None, description="CPU cores, e.g. 2, 0.5 or 500m."
    )
    memory: Annotated[str, StringConstraints(pattern=r"^[0-9]+(\.[0-9]+)?(E|P|T|G|M|K|Ei|Pi|Ti|Gi|Mi|Ki)?$")] | None = (
        Field(None, description="Memory, e.g. 4Gi or 512Mi.")
    )


class ComponentSpec(Strict):
    """One component instance: its type, where its inputs come from, its parameters."""

    type: str = Field(
        description="A built-in component type (e.g. 'ingest') or an import path 'module:Name' / 'file.py:name'."
    )
    inputs: dict[str, InputSpec] = Field(
        default_factory=dict,
        description="Input name -> 'component.output' of an upstream component in this run, "
        "or {latest: 'component.output', blessed: true|false} from an earlier run.",
    )
    params: dict[str, Any] = Field(default_factory=dict, description="The component's parameters.")
    cache: bool = Field(True, description="Reuse a previous execution with identical inputs, parameters and code.")
    retries: int = Field(0, ge=0, description="How many times a failed execution is retried.")
    description: str | None = Field(None, description="Free text shown in the UI.")
    resources: ResourcesSpec | None = Field(None, description="CPU and memory of the component's Kubeflow pod.")


def _tracking_uri(value: str) -> str:
    from headrace.pipelines.mlflow_target import tracking_uri_problem

    problem = tracking_uri_problem(value)
    if problem:
        raise ValueError(
            f"tracking URI {value!r} is malformed: {problem}; "
            "write e.g. sqlite:///runs/mlflow.db or http://localhost:5000 (or leave it out for runs/mlflow.db)"
        )
    return value


class MlflowSpec(Strict):
    """Where lineage and models are mirrored for browsing in the MLflow UI."""

    tracking_uri: Annotated[str, AfterValidator(_tracking_uri)] | None = Field(
        None, description="MLflow tracking URI; a relative sqlite path is relative to this file."
    )
    experiment: str | None = Field(None, description="MLflow experiment name (default: the pipeline name).")


class BeamSpec(Strict):
    """The Apache Beam runner used by data-heavy components."""

    runner: str = Field("DirectRunner", description="Beam runner: DirectRunner, DataflowRunner, FlinkRunner, ...")
    options: dict[str, Any] = Field(default_factory=dict, description="Beam pipeline options, e.g. direct_num_workers.")


class SecretKeySpec(Strict):
    """One key of a Kubernetes secret."""

    secret: str = Field(description="Name of the Kubernetes secret (in the namespace the pipeline runs in).")
    key: str = Field(description="The key in that secret whose value becomes the environment variable.")


class KubeflowSpec(Strict):
    """How `headrace compile` builds the Kubeflow pipeline."""

    image: str | None = Field(
        None, description="Container image with headrace installed (see the Dockerfile); --image overrides it."
    )
    secret_env: dict[str, SecretKeySpec] = Field(
        default_factory=dict,
        description="Environment variable -> Kubernetes secret key, set in every task's pod, e.g. "
        "HEADRACE_METADATA: {secret: headrace-db, key: url} for metadata: ${env:HEADRACE_METADATA}.",
    )


class PipelineSpec(Strict):
    """A headrace pipeline file."""

    model_config = ConfigDict(extra="forbid", title="headrace pipeline")

    name: Annotated[str, AfterValidator(_pipeline_name), Field(json_schema_extra={"pattern": NAME_PATTERN})] = Field(
        description="Pipeline name: lower-case letters, digits, '-' and '_'."
    )
    root: Annotated[str, StringConstraints(min_length=1)] = Field(
        "./runs", description="Artifact root: a path relative to this file, or a gs:// / s3:// URI."
    )
    metadata: Annotated[str, AfterValidator(_url), Field(json_schema_extra={"pattern": URL_PATTERN})] | None = Field(
        None,
        description="SQLAlchemy URL of the metadata store; a relative sqlite path is relative to this file. "
        "Default: sqlite:///<root>/metadata.db.",
    )
    mlflow: MlflowSpec | None = Field(None, description="MLflow mirror settings.")
    beam: BeamSpec = Field(default_factory=BeamSpec, description="Apache Beam settings.")
    kubeflow: KubeflowSpec | None = Field(None, description="Kubeflow Pipelines settings (headrace compile).")
    params: dict[str, Any] = Field(
        default_factory=dict, description="Pipeline parameters, used as ${params.NAME}; override with --set."
    )
    components: dict[ComponentName, ComponentSpec] = Field(min_length=1, description="Component name -> component.")
