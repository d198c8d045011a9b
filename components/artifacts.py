"""Artifact types: what flows between components.

An artifact is a URI plus a type, properties and a content fingerprint. The
type is a Python class so that wiring can be checked with ``issubclass``
before anything runs: an input declared as ``Examples`` accepts any subclass
of ``Examples``. A user defines a custom artifact type by subclassing
``Artifact`` (or a built-in type); the class name is the type name recorded in
the metadata store.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

_TYPES: dict[str, type[Artifact]] = {}


@dataclass
class Artifact:
    """One immutable output of one execution, addressed by URI.

    ``uri`` is a directory (local path or ``gs://``/``s3://`` URI, read through
    ``pyarrow.fs``). Executors write into ``uri`` and may fill ``properties``
    with small JSON-able facts (row counts, a schema) that are stored with the
    artifact and shown by ``headrace show``.
    """

    uri: str
    properties: dict[str, Any] = field(default_factory=dict)
    id: int | None = None
    fingerprint: str | None = None

    type_name: ClassVar[str] = "Artifact"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.type_name = cls.__name__
        known = _TYPES.get(cls.__name__)
        if known is None or _reloaded(known):
            _TYPES[cls.__name__] = cls

    @property
    def content_label(self) -> str:
        """A short name for this artifact's *content* (its fingerprint), for titles in reports.

        Outputs must be a function of their inputs' content and parameters only: a
        report that named an input by path or node name would differ between two
        executions on the same data and make everything downstream re-run.
        """
        return (self.fingerprint or "of unknown content")[:12]

    def path(self, *parts: str) -> str:
        """A path below this artifact's URI, joined with ``/`` (valid for every ``pyarrow.fs``)."""
        return "/".join([self.uri.rstrip("/"), *parts])


def _reloaded(cls: type) -> bool:
    """Whether ``cls``'s module was imported again since (a user module of another project, or edited): stale.

    Two modules that each define ``Report`` keep the first under the name; a module imported again replaces
    its own classes, so an importer's ``artifact_type: Report`` names the class its consumers now declare.
    """
    module = sys.modules.get(cls.__module__)
    return module is None or getattr(module, cls.__qualname__, None) is not cls


def known_artifact_types() -> list[str]:
    """The names of every artifact type defined so far (built-ins, and those of user modules already imported)."""
    return sorted(["Artifact", *_TYPES])


def artifact_type(name: str) -> type[Artifact]:
    """Look up an artifact class by its type name (as stored in the metadata store)."""
    if name == "Artifact":
        return Artifact
    try:
        return _TYPES[name]
    except KeyError:
        raise KeyError(f"unknown artifact type {name!r}; known types: {', '.join(sorted(_TYPES))}") from None


class Examples(Artifact):
    """Tabular data: one Parquet directory per split, ``<uri>/Split-<name>/part-*.parquet``.

    ``properties['splits']`` lists the split names and ``properties['row_counts']``
    the rows per split; ``properties['schema']`` is the Arrow schema as a list of
    ``{name, type, nullable}``.
    """

    @property
    def splits(self) -> list[str]:
        return list(self.properties.get("splits", []))

    def split_uri(self, split: str) -> str:
        return self.path(f"Split-{split}")

    def dataset(self, split: str) -> Any:
        """A ``pyarrow.dataset.Dataset`` over one split, for streaming reads."""
        import pyarrow.dataset as ds

        if split not in self.splits:
            raise KeyError(f"split {split!r} not in this Examples artifact; it has {self.splits}")
        return ds.dataset(self.split_uri(split), format="parquet")

    def batches(self, split: str, batch_size: int = 65_536, columns: list[str] | None = None) -> Iterator[Any]:
        """Stream one split as Arrow RecordBatches; memory stays bounded by ``batch_size``."""
        yield from self.dataset(split).to_batches(batch_size=batch_size, columns=columns)

    def to_table(self, split: str, columns: list[str] | None = None) -> Any:
        return self.dataset(split).to_table(columns=columns)

    def to_pandas(self, split: str, columns: list[str] | None = None) -> Any:
        """Materialise one split as a pandas DataFrame (user code only; platform code streams)."""
        return self.to_table(split, columns).to_pandas()


class Statistics(Artifact):
    """Per-split column statistics."""


class Schema(Artifact):
    """The expected shape of Examples: types, presence, domains, ranges."""


class Anomalies(Artifact):
    """Differences between statistics and a schema or a baseline."""


class TransformGraph(Artifact):
    """A fitted transform that maps raw features to model features.

    ``TransformGraph.load(uri).transform(batch)`` applies it to a RecordBatch,
    Table or pandas DataFrame, with no Beam and no pipeline: the values are
    the ones the transform component wrote, row for row.
    """

    @classmethod
    def load(cls, uri: str) -> Any:
        """The fitted transform at ``uri`` (a TransformGraph artifact's URI), ready to ``transform(...)``."""
        from headrace.components.transform.graph import FittedTransform

        return FittedTransform.load(uri)


class Model(Artifact):
    """A trained model in MLflow's model format."""


class KerasModel(Artifact):
    """A Keras model file (``.keras``) brought into the pipeline by an ``importer``: a network to fine-tune.

    Not a ``Model``: that is an MLflow model with the transform inside (what the evaluator and the pusher
    take); this is a bare network, the trainer's ``base_model``. ``file`` is the ``.keras`` file inside.
    """

    @property
    def file(self) -> str:
        return self.path(str(self.properties["file"]))


class ModelEvaluation(Artifact):
    """Metrics of a model, overall and per slice."""


class ModelBlessing(Artifact):
    """The evaluator's verdict: whether a model may be pushed."""


class PushedModel(Artifact):
    """A model copied to a serving location or registered."""


class InfraBlessing(Artifact):
    """The infra validator's verdict: whether the model loads and answers in a real serving process."""
