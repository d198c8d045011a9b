"""The component contract: typed inputs, outputs and parameters plus ``run(ctx)``.

A component is a class with four declarations and one method::

    class Ingest(Component[IngestParameters]):
        type = "ingest"
        outputs = {"examples": Examples}
        Parameters = IngestParameters
        requires = ("pyarrow",)

        def run(self, ctx: Context[IngestParameters]) -> None:
            ctx.params.source  # typed: the component's own Parameters model

Everything a run needs to know (wiring, caching, lineage, the Kubeflow task
signature) is derived from these declarations, so a user component written
as a class or with ``@component`` on a function gets exactly what a built-in
one gets.
"""

from __future__ import annotations

import builtins
import logging
import numbers
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel, ConfigDict

from headrace.components.artifacts import Artifact, ModelBlessing
from headrace.components.paths import resolve_path


class ContentAddressed:
    """Marks a parameter whose *content* (not its name) enters the cache key.

    A parameter annotated ``DataPath`` names a file, directory or glob of data;
    the runner replaces its value with a hash of the bytes it names when it
    computes the cache key, so renaming or touching a file does not re-run the
    component and editing one byte does.
    """


class CodeReference:
    """Marks a parameter that names user code (``module.py`` or ``pkg.module``).

    The runner fingerprints that module and the project-local modules it
    imports, so a change in a helper module invalidates the cache too.
    """


class NeedsTensorFlow:
    """Marks a parameter that asks for the TensorFlow path (``pip install 'headrace[tensorflow]'``).

    ``Annotated[Literal["none", "onnx", "tflite"], NeedsTensorFlow("tflite")]``: the values listed need it;
    with no values listed, any value but None does (``distribution: {...}``). Validation checks every marked
    parameter of every component, so a pipeline that asks for TensorFlow where the extra is not installed
    fails before anything runs, naming the parameter and the extra.
    """

    def __init__(self, *values: object) -> None:
        self.values = values

    def asks(self, value: object) -> bool:
        """Whether ``value`` of the marked parameter needs TensorFlow."""
        return value in self.values if self.values else value is not None


DataPath = Annotated[str, ContentAddressed()]
CodePath = Annotated[str, CodeReference()]


class ComponentError(Exception):
    """A failure whose message says everything a user needs: what, where, and the fix.

    The runner shows such an error as its message alone; the traceback still
    goes to the component's log. Anything else shows its traceback, since it
    is more likely a bug than bad input.
    """


class GateFailed(ComponentError):
    """Raised by a gate after writing its outputs: they are published, then the run fails.

    A data validator that found anomalies, an evaluator that did not bless a
    model: the outputs are the evidence a user needs, so unlike any other
    exception (after which whatever the executor wrote is discarded) the
    runner publishes and records them, marks the execution failed with this
    message, points at the outputs' reports and skips everything downstream.
    A failed gate is never a cache hit: the next run checks again.
    """


class Parameters(BaseModel):
    """Base for component parameter models: strict about unknown keys, like the YAML."""

    model_config = ConfigDict(extra="forbid")


class NoParameters(Parameters):
    pass


@dataclass(frozen=True)
class Input:
    """An input port: the artifact type it accepts and whether it may stay unwired."""

    type: type[Artifact]
    optional: bool = False
    description: str = ""


class MetricsSink:
    """Collects scalar metrics an executor reports; stored with its execution."""

    def __init__(self) -> None:
        self.values: dict[str, float] = {}

    def log(self, name: str, value: float) -> None:
        # a count stays an integer (3000000, not 3e+06 once stored and shown)
        is_count = isinstance(value, numbers.Integral) and not isinstance(value, bool)
        self.values[name] = int(value) if is_count else float(value)


A = TypeVar("A", bound=Artifact)
P = TypeVar("P", bound=BaseModel)
"""A component's parameter model: ``Context[IngestParameters]`` makes ``ctx.params`` an ``IngestParameters``."""


@dataclass
class Context(Generic[P]):
    """Everything an executor gets: resolved inputs, fresh outputs, parameters, Beam options.

    ``outputs[name].uri`` is a staging location that the runner renames into
    place after ``run`` returns, so an executor simply writes there.
    ``params`` is an instance of the component's ``Parameters`` model, already
    validated; annotate ``run(self, ctx: Context[MyParameters])`` to type it.
    """

    component: str
    inputs: dict[str, Artifact | None]
    outputs: dict[str, Artifact]
    params: P
    beam_options: dict[str, Any] = field(default_factory=dict)
    log: logging.Logger = field(default_factory=lambda: logging.getLogger("headrace.component"))
    metrics: MetricsSink = field(default_factory=MetricsSink)
    run_id: str = ""
    execution_id: int = 0
    base_dir: str = "."
    on_progress: Callable[[str], None] | None = None
    pipeline_file: str = ""
    param_positions: dict[tuple[str | int, ...], tuple[int, int]] = field(default_factory=dict)
    """Where each part of ``params`` was written (path below ``params`` -> line, column); see ``location``."""
    pipeline: str = ""
    """The pipeline's name (the pusher names the registered model after it)."""
    mlflow_tracking_uri: str = ""
    """The tracking URI of the pipeline's ``mlflow:`` section (its default resolved); "" when there is none.

    Only a component that declares ``uses_mlflow_tracking`` should act on it:
    for those, it enters the cache key.
    """
    blessed_by_hand: ModelBlessing | None = None
    """The newest ``headrace bless`` of the ``model`` input in this pipeline (properties ``by``, ``reason``), or None.

    Given only to a component that declares ``uses_hand_blessing``; for those
    it enters the cache key, so blessing a model by hand re-runs them.
    """
    cache_uri: str = ""
    """A folder this component may keep results in across runs ("" outside a pipeline run, or caching is off).

    For a cache finer than the execution's: the runner re-runs a component
    when any input changed, and the component may find there what it computed
    from the part that did not (the transform keeps its analyzer values, keyed
    by the analyzed split's bytes). Key every entry by all it was computed
    from, so that a stale one can never be read; it may be deleted any time.
    """

    def progress(self, note: str) -> None:
        """Tell the person watching how far a long step has come ("1,200,000 rows read").

        Shown live next to the component in the run's progress view; cheap
        enough to call every batch (views rate-limit what they print).
        """
        if self.on_progress is not None:
            self.on_progress(note)

    def input(self, name: str, kind: type[A]) -> A:
        """The artifact wired to input ``name``, typed as ``kind``; a clear error when it is not wired."""
        artifact = self.inputs.get(name)
        if artifact is None:
            raise ComponentError(
                f"component `{self.component}` needs its `{name}` input wired (inputs: {{{name}: ...}})"
            )
        if not isinstance(artifact, kind):
            raise ComponentError(
                f"input `{name}` of component `{self.component}` is {type(artifact).__name__}, not {kind.__name__}"
            )
        return artifact

    def optional_input(self, name: str, kind: type[A]) -> A | None:
        """An optional input typed as ``kind``, or None when it is not wired (or nothing qualified)."""
        return self.input(name, kind) if self.inputs.get(name) is not None else None

    def location(self, *path: str | int) -> str:
        """``pipeline.yaml:31:11``: where a parameter (``"ops", 2, "bucketize"``) was written; "" when unknown.

        For errors found at run time in what the parameters say (a selector that
        selects nothing in this data), so they point into the file like validation's do.
        """
        while path:
            at = self.param_positions.get(tuple(path))
            if at is not None:
                return f"{self.pipeline_file}:{at[0]}:{at[1]}" if self.pipeline_file else ""
            path = path[:-1]
        return ""

    def place(self, *path: str | int) -> str:
        """Where a parameter was written, to start a run-time error with: its ``location``, else its YAML path."""
        dotted = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path)
        return self.location(*path) or f"components.{self.component}.params{dotted}"

    def resolve_path(self, path: str) -> str:
        """A path from the pipeline file made absolute against the pipeline's directory (URIs pass through)."""
        return resolve_path(path, self.base_dir)


@dataclass(frozen=True)
class ParameterProblem:
    """A mistake in a component's parameters found before the run; ``path`` is below ``params``.

    A column name its input will not have, a user module without the function it names: reported by
    ``validate`` at the line and column where the parameter was written.
    """

    path: tuple[str | int, ...]
    message: str
    hint: str | None = None


ColumnProblem = ParameterProblem


class Component(Generic[P]):
    """Base of every component; subclasses declare the contract as class attributes.

    ``class Ingest(Component[IngestParameters])`` with ``Parameters = IngestParameters``
    types ``run``'s ``ctx.params``; a bare ``Component`` takes any parameters.
    """

    type: ClassVar[str] = ""
    version: ClassVar[str] = "1"
    description: ClassVar[str] = ""
    inputs: ClassVar[dict[str, Input]] = {}
    # builtins.type: inside this class, plain `type` is the attribute above
    outputs: ClassVar[dict[str, builtins.type[Artifact]]] = {}
    Parameters: ClassVar[builtins.type[BaseModel]] = NoParameters
    requires: ClassVar[tuple[str, ...]] = ()
    """Distributions whose installed versions enter the cache key (``("scikit-learn",)``)."""

    uses_mlflow_tracking: ClassVar[bool] = False
    """Whether ``run`` acts on ``ctx.mlflow_tracking_uri`` (the pusher registers there): it then enters the cache key."""

    uses_hand_blessing: ClassVar[bool] = False
    """Whether ``run`` acts on ``ctx.blessed_by_hand`` (the pusher pushes such a model): it then enters the cache key."""

    code_file: ClassVar[str | None] = None
    """For user components: the source file whose content (and project-local imports) enters the cache key."""

    @classmethod
    def output_types(cls, params: Any) -> dict[str, builtins.type[Artifact]]:
        """The artifact type of each output for these parameters: ``outputs``, unless a parameter sets a type.

        The importer's ``artifact_type`` does; wiring is checked, and outputs are made and recorded, with
        what this returns.
        """
        return dict(cls.outputs)

    @classmethod
    def content_locations(cls, params: Any, base_dir: str) -> list[str]:
        """Further files whose content enters the cache key, beyond those ``ContentAddressed`` parameters name.

        For data a parameter names only indirectly: ingest's table whose ``image_column`` lists image files
        returns those files, so an edited image re-runs ingest. Called before every run; the default is none.
        """
        return []

    @classmethod
    def known_columns(cls, params: Any, base_dir: str) -> list[str] | None:
        """The columns this component's output describes, when its parameters alone say (a curated schema file).

        None (the default) when only running it tells. Components downstream
        then check the column names they are given before anything runs.
        """
        return None

    @classmethod
    def check_columns(cls, params: Any, columns: dict[str, list[str]]) -> list[ColumnProblem]:
        """Problems with column names in ``params``, given the columns of inputs known before the run.

        ``columns`` maps an input name to the columns its upstream's
        ``known_columns`` gave. The default checks nothing.
        """
        return []

    @classmethod
    def check_params(cls, params: Any, base_dir: str) -> list[ParameterProblem]:
        """Problems in ``params`` that the files they name show before the run (a module without its entrypoint).

        Called by ``validate`` (and before every run) with the validated parameters and the pipeline's folder;
        keep it cheap: read, do not import. The default checks nothing.
        """
        return []

    def run(self, ctx: Context[P]) -> None:  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__}.run is not implemented")
