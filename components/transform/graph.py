"""The TransformGraph artifact: ops, frozen analyzer values and the user module, as one readable file.

``<uri>/transform_graph.json`` (versioned, ``FORMAT``/``VERSION``) holds the
raw input schema the transform expects (and which columns it reads), the ops
with the columns they were resolved to and their frozen values, the frozen
values of the user's analyzer calls, and the output schema;
``<uri>/preprocessing.py`` is a copy of the user module (its sha256 is in the
file). ``TransformGraph.load(uri)`` needs neither Beam nor a pipeline::

    from headrace.components import TransformGraph
    graph = TransformGraph.load(uri)
    features = graph.transform(record_batch_or_table_or_pandas)
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from headrace.components.files import read_text, write_text
from headrace.components.transform.ops import Op
from headrace.components.transform.plan import Plan, UserFunction
from headrace.components.transform.scope import TransformError

FORMAT = "headrace.transform_graph"
VERSION = 2
"""2: image columns (``image: true`` in the schemas) and the image ops; version 1 files read as before."""
READS = (1, 2)
GRAPH_FILE = "transform_graph.json"
MODULE_FILE = "preprocessing.py"


def empty_batch(schema: pa.Schema) -> pa.RecordBatch:
    """No rows of ``schema`` (``from_pylist`` and ``pa.array([])`` import pandas: a third of a second)."""
    return pa.RecordBatch.from_arrays([pa.nulls(0, f.type) for f in schema], schema=schema)


def parse_type(name: str) -> pa.DataType:
    from headrace.components.arrow_types import parse_arrow_type

    return parse_arrow_type(name)


@dataclass
class FittedTransform:
    """A transform with every analyzer frozen: applies to any batch, in a pipeline or at serving."""

    plan: Plan
    values: dict[str, Any]
    input_schema: pa.Schema
    required: list[str]
    output_schema: pa.Schema | None = None
    analysis: dict[str, Any] = field(default_factory=dict)

    # -- applying -----------------------------------------------------------------

    def transform(self, data: Any) -> Any:
        """``data`` (RecordBatch, Table or pandas DataFrame) transformed; the result has the same kind.

        Columns are matched by name (any order); extra columns are ignored;
        a missing column the transform reads is an error naming it; a missing
        pass-through column (the label at serving time) is simply absent.
        """
        kind = "batch"
        if isinstance(data, pa.Table):
            kind = "table"
            batch = data.combine_chunks().to_batches()
            data = batch[0] if batch else empty_batch(data.schema)
        elif not isinstance(data, pa.RecordBatch):
            if type(data).__name__ != "DataFrame" or not type(data).__module__.startswith("pandas"):
                raise TypeError(
                    f"transform() takes a pyarrow RecordBatch or Table or a pandas DataFrame, not {type(data).__name__}"
                )
            kind = "pandas"
            table = pa.Table.from_pandas(data, preserve_index=False).combine_chunks()
            batches = table.to_batches()
            data = batches[0] if batches else empty_batch(table.schema)
        out = self.transform_batch(data)
        if kind == "table":
            return pa.Table.from_batches([out])
        if kind == "pandas":
            return out.to_pandas()
        return out

    def transform_batch(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        columns = self.conform(batch)
        result = self.plan.run(columns, self.plan.scope(self.values, frozenset(self.values)))
        names = list(result)
        arrays = [_as_array(result[n]) for n in names]
        out = pa.RecordBatch.from_arrays(arrays, names=names)
        if self.output_schema is not None and out.schema.equals(self.output_schema):
            if self.plan.images:  # the image columns' field metadata, which arrays do not carry
                out = pa.RecordBatch.from_arrays(out.columns, schema=self.output_schema)
        elif self.output_schema is not None and len(names) == len(self.output_schema):
            try:
                out = out.cast(self.output_schema)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError, ValueError) as exc:
                raise TransformError(
                    f"the transform produced columns {out.schema} on this batch but {self.output_schema} when it was "
                    f"fitted: {exc}"
                ) from None
        return out

    def conform(self, batch: pa.RecordBatch) -> dict[str, Any]:
        """The batch's columns in the fitted input order and types; checks the columns the transform reads."""
        present = set(batch.schema.names)
        missing = [name for name in self.required if name not in present]
        if missing:
            raise TransformError(
                f"the data lacks column(s) the transform reads: {', '.join(repr(m) for m in missing)} "
                f"(it has: {', '.join(batch.schema.names) or 'no columns'})"
            )
        columns: dict[str, Any] = {}
        for expected in self.input_schema:
            if expected.name not in present:
                continue
            column = batch.column(expected.name)
            if column.type != expected.type:
                try:
                    column = column.cast(expected.type)
                except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as exc:
                    raise TransformError(
                        f"column {expected.name!r} has type {column.type}, the transform was fitted on "
                        f"{expected.type} and the values do not convert: {exc}"
                    ) from None
            columns[expected.name] = column
        return columns

    def empty_output(self) -> pa.RecordBatch:
        return self.transform_batch(empty_batch(self.input_schema))

    def image_chains(self) -> dict[str, Any]:
        """Output image column -> its ``image_ops.ImageChain`` (the steps TensorFlow runs, with frozen values);
        image columns no op touches are not in it (they stay encoded bytes)."""
        if not self.plan.images:
            return {}
        cached = self.__dict__.get("_image_chains")
        if cached is None:
            empty = empty_batch(self.input_schema)
            tx = self.plan.scope(self.values, frozenset(self.values))
            self.plan.run({name: empty.column(i) for i, name in enumerate(self.input_schema.names)}, tx)
            cached = {name: chain for name, chain in tx.image_chains.items() if name in tx.image_columns}
            self.__dict__["_image_chains"] = cached  # frozen values: the chains never change
        return cached

    # -- the file -----------------------------------------------------------------

    def to_document(self) -> dict[str, Any]:
        ops = []
        for op in self.plan.ops:
            frozen = {c: self.values[op.key(c)] for c in (op.columns or []) if op.key(c) in self.values}
            ops.append({"op": op.name, "args": op.args, "columns": op.columns, "values": frozen})
        user = None
        if self.plan.user is not None:
            prefix = "preprocessing_fn:"
            user = {
                "module": MODULE_FILE,
                "source_file": self.plan.user.filename.rsplit("/", 1)[-1],
                "function": self.plan.user.function,
                "sha256": self.plan.user.fingerprint,
                "values": {k: v for k, v in sorted(self.values.items()) if k.startswith(prefix)},
            }
        return {
            "format": FORMAT,
            "version": VERSION,
            "input_schema": [
                {"name": f.name, "type": str(f.type), "required": f.name in self.required, **_image_flag(f)}
                for f in self.input_schema
            ],
            "output_schema": [
                {"name": f.name, "type": str(f.type), **_image_flag(f)} for f in (self.output_schema or [])
            ],
            "ops": ops,
            "preprocessing_fn": user,
            "options": self.plan.options,
            "analysis": self.analysis,
        }

    def save(self, uri: str) -> None:
        base = uri.rstrip("/")
        if self.plan.user is not None:
            write_text(f"{base}/{MODULE_FILE}", self.plan.user.source)
        write_text(f"{base}/{GRAPH_FILE}", json.dumps(self.to_document(), indent=1, sort_keys=False) + "\n")

    @classmethod
    def load(cls, uri: str) -> FittedTransform:
        base = uri.rstrip("/")
        path = f"{base}/{GRAPH_FILE}"
        try:
            document = json.loads(read_text(path))
        except FileNotFoundError:
            raise TransformError(f"{uri} is not a TransformGraph: it has no {GRAPH_FILE}") from None
        if document.get("format") != FORMAT:
            raise TransformError(f"{path} is not a TransformGraph file (format {document.get('format')!r})")
        if document.get("version") not in READS:
            raise TransformError(
                f"{path} has TransformGraph version {document.get('version')}; this headrace reads versions {', '.join(map(str, READS))} "
                "(re-run the transform with this headrace, or install the one that wrote it)"
            )
        return cls.from_document(document, base)

    @classmethod
    def from_document(cls, document: dict[str, Any], base: str, user: UserFunction | None = None) -> FittedTransform:
        """The transform a document describes; ``user`` gives the preprocessing module instead of reading it."""
        values: dict[str, Any] = {}
        ops = []
        for index, entry in enumerate(document["ops"]):
            op = Op(index, entry["op"], entry["args"], f"ops[{index}]", entry["columns"])
            ops.append(op)
            values.update({op.key(c): v for c, v in entry["values"].items()})
        if document.get("preprocessing_fn"):
            spec = document["preprocessing_fn"]
            if user is None:
                filename = f"{base}/{spec['module']}"
                user = UserFunction(read_text(filename), spec["function"], filename)
                if user.fingerprint != spec["sha256"]:
                    raise TransformError(
                        f"{filename} is not the module this TransformGraph was fitted with (its sha256 is "
                        f"{user.fingerprint[:16]}…, the graph records {spec['sha256'][:16]}…); an artifact is "
                        "immutable: re-run the transform instead of editing its files"
                    )
            values.update(spec["values"])
        input_schema = pa.schema([_field(f) for f in document["input_schema"]])
        required = [f["name"] for f in document["input_schema"] if f.get("required")]
        output = document.get("output_schema") or []
        output_schema = pa.schema([_field(f) for f in output]) if output else None
        images = frozenset(f["name"] for f in document["input_schema"] if f.get("image"))
        plan = Plan(ops, user, dict(document.get("options") or {}), images)
        return cls(plan, values, input_schema, required, output_schema, dict(document.get("analysis") or {}))


def _image_flag(field: pa.Field) -> dict[str, bool]:
    from headrace.components.images import is_image_field

    return {"image": True} if is_image_field(field) else {}


def _field(entry: dict[str, Any]) -> pa.Field:
    """An input column back from the file; a tensor image column keeps its type (its name says the shape)."""
    from headrace.components.images import image_field

    kind = parse_type(entry["type"])
    if entry.get("image") and not isinstance(kind, pa.FixedShapeTensorType):
        return image_field(entry["name"])
    return pa.field(entry["name"], kind)


def _as_array(column: Any) -> pa.Array:
    if isinstance(column, pa.ChunkedArray):
        return column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
    return column
