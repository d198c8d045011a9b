"""``schema.yaml``: the schema as a file a person reads, copies, edits and feeds back.

Writing: a header that says how to curate the file, then ``version`` and
``columns`` sorted by name, each column's keys in the order of ``ColumnSchema``
and a comment with what was observed, so a diff between two inferred schemas
shows only what changed.

Reading: a curated file is hand-edited, so every problem is reported with the
file, ``line:column``, what was found, what was expected and the fix, all
problems at once, never a pydantic traceback.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Mapping
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from headrace.components.files import read_text, write_text
from headrace.components.problems import Problem
from headrace.components.suggestions import did_you_mean
from headrace.components.validator.drift_measures import MEASURES, asked, family_of_type, threshold_comment
from headrace.components.validator.formats import (
    FORMAT_VERSION,
    ColumnSchema,
    DataProblem,
    DataSchema,
    DatasetStatistics,
    DistanceThreshold,
    ImageConstraints,
    Presence,
    ValueRange,
)

_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # libyaml's emitter: ~10x faster on wide schemas

SCHEMA_FILE = "schema.yaml"
SCHEMA_JSON = "schema.json"
"""A Schema artifact holds both: the YAML a person curates, and the same content as JSON for the validator."""
STATISTICS_FILE = "statistics.json"

CURATION_HELP = """\
How to curate this schema (the TFX SchemaGen -> ImportSchemaGen workflow):
  1. copy this file into your project, e.g. next to pipeline.yaml as schema.yaml;
  2. edit it: widen a range, add a value to a domain, relax presence, raise a threshold;
  3. feed it back:  schema: {type: schema, params: {path: schema.yaml}}
The validator then checks every run's statistics against your curated file.

Per column:
  type                   Arrow type of the column (int64, double, string, ...)
  presence.min_fraction  least share of rows that must have a value; 1.0 = required
  domain                 every accepted value of a string column (omit to accept any)
  range.min, range.max   accepted numeric range (omit either side to leave it open)
  image.shapes           images: accepted decoded shapes, HEIGHTxWIDTH (e.g. [8x8]; omit to accept any)
  image.channels         images: accepted channel counts (1 gray, 3 RGB, 4 RGBA)
  image.max_undecodable_fraction  images: share that may fail to decode (0 = none)
  drift                  largest accepted distance from the baseline statistics
  skew                   largest accepted distance between the train and eval splits
    wasserstein          numeric: how far the distribution moved, in standard deviations (0.5 = half a sd)
    std_change           numeric: how much the spread changed, either way (0.1 = 10%)
    linf                 categorical: the most any one value's share may move (0.05 = 5 points)
    psi                  Population Stability Index over deciles or values (0.1 moderate, 0.25 significant)
    jensen_shannon_distance  0 = same, 1 = disjoint; jensen_shannon: its square, the divergence
  Every measure named is checked. Small samples differ by chance, so a threshold is raised to what chance
  reaches at the two sample sizes, and below 50 values on a side the report says "too little data"."""


class SchemaFileError(DataProblem):
    """A schema file that cannot be used; the message names the file, the place and the fix."""


# -- reading ------------------------------------------------------------------


def read_statistics(uri: str) -> DatasetStatistics:
    """``<uri>/statistics.json`` of a Statistics artifact, validated against ``DatasetStatistics``.

    Lives here, beside the other document readers of this family, until the
    statistics component offers its own reader.
    """
    path = f"{uri.rstrip('/')}/{STATISTICS_FILE}"
    try:
        text = read_text(path)
    except FileNotFoundError:
        raise SchemaFileError(
            f"{path}: no statistics file; the Statistics artifact at {uri} is incomplete, "
            "re-run the statistics component (headrace run --no-cache)"
        ) from None
    try:
        return DatasetStatistics.model_validate_json(text)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise SchemaFileError(
            f"{path}: not a statistics document of format version {FORMAT_VERSION} "
            f"({exc.error_count()} problems, first at {where or 'the top'}: {first['msg']}); "
            "re-run the statistics component to rewrite it"
        ) from None


def read_published_schema(artifact_uri: str) -> DataSchema:
    """The schema of a Schema artifact: its JSON twin when present (fast), else its YAML."""
    try:
        return DataSchema.model_validate_json(read_text(f"{artifact_uri.rstrip('/')}/{SCHEMA_JSON}"))
    except (FileNotFoundError, ValidationError):
        return read_schema_file(f"{artifact_uri.rstrip('/')}/{SCHEMA_FILE}")


def read_schema_file(path: str) -> DataSchema:
    """Read and validate a schema file; raises ``SchemaFileError`` naming the file and every problem."""
    try:
        text = read_text(path)
    except FileNotFoundError:
        raise SchemaFileError(
            f"{path}: no such schema file; check `path` (relative to the pipeline file), or remove it to infer "
            "a schema from the statistics"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SchemaFileError(f"{path}: cannot read the schema file: {exc}") from None
    return parse_schema(text, path)


def parse_schema(text: str, source: str = SCHEMA_FILE) -> DataSchema:
    """Validate schema YAML ``text``; ``source`` names the file in error messages."""
    from headrace.components.marked_yaml import YamlSyntaxError, load_marked

    try:
        document = load_marked(text)
    except YamlSyntaxError as exc:
        p = exc.problem
        fix = p.hint or "fix the YAML syntax there (indentation, a missing ':' or an unclosed quote or bracket)"
        raise SchemaFileError(Problem(source, p.line, p.column, p.message, fix)) from None
    if document.problems:
        raise SchemaFileError(*(p.in_file(source) for p in document.problems))
    if not isinstance(document.data, dict):
        found = "an empty file" if document.data is None else f"a {type(document.data).__name__}"
        raise SchemaFileError(
            Problem(
                source,
                1,
                1,
                f"expected a mapping with `version: {FORMAT_VERSION}` and `columns:`, found {found}",
                "start from the schema.yaml an inferred Schema artifact contains",
            )
        )
    try:
        schema = DataSchema.model_validate(document.data)
    except ValidationError as exc:
        lines = []
        for error in exc.errors():
            loc = tuple(error["loc"])
            if error["type"] == "missing":
                line, column = document.position(loc[:-1], key=True)
            else:
                line, column = document.position(loc, key=error["type"] == "extra_forbidden")
            lines.append(Problem(source, line, column, _explain(error, loc)))
        raise SchemaFileError(*lines) from None
    problems = [
        Problem(source, line, column, message) for (line, column), message in _semantic_problems(schema, document)
    ]
    if problems:
        raise SchemaFileError(*problems)
    if schema.version != FORMAT_VERSION:
        line, column = document.position(("version",))
        raise SchemaFileError(
            Problem(
                source,
                line,
                column,
                f"schema format version {schema.version} is not supported; this headrace reads version {FORMAT_VERSION}",
                f"set `version: {FORMAT_VERSION}`",
            )
        )
    return schema


_EXPECTED: dict[str, str] = {
    "float_type": "a number",
    "float_parsing": "a number",
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "string_type": "a string (quote it: '...')",
    "list_type": "a list (- value per line, or [a, b])",
    "dict_type": "a mapping (key: value lines)",
    "model_type": "a mapping (key: value lines)",
    "bool_type": "true or false",
}


def _explain(error: Mapping[str, Any], loc: tuple[Any, ...]) -> str:
    """One pydantic error in the words of the file: the dotted key, what was found, expected, the fix."""
    where = ".".join(str(part) for part in loc)
    kind = error["type"]
    if kind == "extra_forbidden":
        key = str(loc[-1])
        allowed = _allowed_keys(loc[:-1])
        near = did_you_mean(key, allowed)
        suggestion = f"{near} " if near else ""
        parent = ".".join(str(p) for p in loc[:-1]) or "the top level"
        return f"unknown key {key!r} in {parent}; {suggestion}allowed keys: {', '.join(allowed)}"
    if kind == "missing":
        parent = ".".join(str(p) for p in loc[:-1]) or "the top level"
        example = {"type": " (e.g. `type: double`)", "columns": " (a mapping of column name -> its schema)"}
        return f"{parent}: the required key {str(loc[-1])!r} is missing; add it{example.get(str(loc[-1]), '')}"
    found = error.get("input")
    found_text = "nothing" if found is None else repr(found)
    expected = _EXPECTED.get(kind)
    if expected:
        return f"{where}: expected {expected}, found {found_text}"
    return f"{where}: {error['msg'].lower()}, found {found_text}"


def _allowed_keys(parent: tuple[Any, ...]) -> list[str]:
    """The keys accepted at ``parent`` (a path into the schema document)."""
    model: type[BaseModel] = DataSchema
    steps = list(parent)
    if steps[:1] == ["columns"] and len(steps) >= 2:
        model, steps = ColumnSchema, steps[2:]
    sub_models: dict[str, type[BaseModel]] = {
        "presence": Presence,
        "range": ValueRange,
        "image": ImageConstraints,
        "skew": DistanceThreshold,
        "drift": DistanceThreshold,
    }
    for step in steps:
        model = sub_models.get(str(step), model)
    return list(model.model_fields)


def _semantic_problems(schema: DataSchema, document: Any) -> list[tuple[tuple[int, int], str]]:
    """What pydantic cannot see: an inverted range, a repeated domain value, a measure that does not fit the type."""
    found = []
    for name, column in schema.columns.items():
        found += _misfit_measures(name, column, document)
        bounds = column.range
        if bounds and bounds.min is not None and bounds.max is not None and bounds.min > bounds.max:
            found.append(
                (
                    document.position(("columns", name, "range", "min")),
                    f"columns.{name}.range: min {bounds.min:g} is above max {bounds.max:g}; swap them",
                )
            )
        for i, shape in enumerate(column.image.shapes or [] if column.image else []):
            if not re.fullmatch(r"[1-9][0-9]*x[1-9][0-9]*", shape):
                found.append(
                    (
                        document.position(("columns", name, "image", "shapes", i)),
                        f"columns.{name}.image.shapes: {shape!r} is not HEIGHTxWIDTH; write it like 28x28",
                    )
                )
        if column.domain:
            repeated = sorted({v for v in column.domain if column.domain.count(v) > 1})
            if repeated:
                found.append(
                    (
                        document.position(("columns", name, "domain")),
                        (
                            f"columns.{name}.domain lists {', '.join(map(repr, repeated))} more than once; "
                            "remove the repeats"
                        ),
                    )
                )
    return found


def _misfit_measures(name: str, column: ColumnSchema, document: Any) -> list[tuple[tuple[int, int], str]]:
    family = "image" if column.image is not None else family_of_type(column.type)
    found = []
    for kind, thresholds in (("skew", column.skew), ("drift", column.drift)):
        for key in asked(thresholds) if thresholds else {}:
            if family is None or family in MEASURES[key].families:
                continue
            fitting = [k for k, m in MEASURES.items() if family in m.families]
            found.append(
                (
                    document.position(("columns", name, kind, key), key=True),
                    f"columns.{name}.{kind}.{key}: {MEASURES[key].name} does not apply to {'an' if family == 'image' else 'a'} "
                    f"{family} column "
                    f"({column.type}); use {', '.join(fitting)}",
                )
            )
    return found


# -- writing ------------------------------------------------------------------


def schema_to_yaml(schema: DataSchema, origin: str = "", notes: Mapping[str, str] | None = None) -> str:
    """The schema as commented YAML: a curation header, then columns sorted by name.

    ``origin`` (one line: where the schema came from) and ``notes`` (column ->
    one line of what was observed) become comments; reading ignores them.
    """
    header = [
        f"# {line}".rstrip()
        for line in [
            f"headrace data schema (format version {schema.version})",
            *([origin] if origin else []),
            "",
            *CURATION_HELP.splitlines(),
        ]
    ]
    parts = ["\n".join(header) + "\n", f"version: {schema.version}", "columns:" if schema.columns else "columns: {}"]
    for name in sorted(schema.columns):
        column = schema.columns[name].model_dump(mode="json", exclude_none=True)
        for side, value in column.get("range", {}).items():
            if isinstance(value, float) and value.is_integer():
                column["range"][side] = int(value)  # 2340, not 2340.0
        body = yaml.dump(
            {name: column}, Dumper=_DUMPER, sort_keys=False, default_flow_style=None, allow_unicode=True, width=100
        )
        note = (notes or {}).get(name)
        block = [f"  # {note}"] if note else []
        entry = schema.columns[name]
        why = threshold_comment(
            entry.skew or entry.drift or DistanceThreshold(), "image" if entry.image is not None else None
        )
        for line in body.rstrip("\n").splitlines():
            if why and line.startswith(("  skew:", "  drift:")):
                block += [f"    # {part}" for part in textwrap.wrap(why, 94)]
                why = ""
            block.append(f"  {line}")
        parts.append("\n".join(block) + "\n")
    return "\n".join(parts).rstrip("\n") + "\n"


def write_schema_file(uri: str, schema: DataSchema, origin: str = "", notes: Mapping[str, str] | None = None) -> None:
    write_text(uri, schema_to_yaml(schema, origin, notes))
