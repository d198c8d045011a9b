"""Check statistics against a schema, between splits (skew) and against a baseline (drift).

Every check works on statistics only, so validating a terabyte costs what
validating its summary costs. Each anomaly carries a sentence a person
understands (what was compared, the value, the threshold) and a fix that
names the exact key of the curated ``schema.yaml`` that would accept it.

Severity defaults (a parameter may override any kind, or ``ignore`` it):

- **error** — the data breaks the contract: ``missing_column``, ``type_change``,
  ``out_of_domain``, ``out_of_range``, ``missing_fraction``, ``empty_split``.
- **warning** — the data changed but may still be right: ``new_column``,
  ``skew``, ``drift``. A model trained on drifted data is not wrong by itself;
  make these ``error`` (``severity: {drift: error}``) to stop a pipeline on it.

Structural anomalies (missing, new, retyped columns) are the same in every
split of one Examples artifact, so they are reported once naming the splits;
value anomalies are reported per split.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from headrace.components.suggestions import closest
from headrace.components.validator.drift_checks import check_drift, check_skew
from headrace.components.validator.formats import (
    DEFAULT_SEVERITY,
    Anomaly,
    AnomalyReport,
    ColumnSchema,
    ColumnStatistics,
    DataSchema,
    DatasetStatistics,
    NotChecked,
    SplitStatistics,
    ValueCount,
)
from headrace.components.validator.wording import listing, num, pct

__all__ = ["DEFAULT_SEVERITY", "SeverityOverride", "ValidationOptions", "apply_severity", "find_anomalies"]

SeverityOverride = Literal["error", "warning", "ignore"]
ALL_COLUMNS = "*"
"""The ``column`` of an anomaly about a whole split (``empty_split``)."""
MAX_EXAMPLES = 10
_CURATED = "in your curated schema.yaml"
_TYPE_ALIASES = {
    "large_string": "string",
    "utf8": "string",
    "large_utf8": "string",
    "float64": "double",
    "float32": "float",
    "bool": "bool",
    "boolean": "bool",
}


@dataclass(frozen=True)
class ValidationOptions:
    """What to compare: the skew split pair, the drift split, severity overrides by kind."""

    skew_splits: tuple[str, str] | None = ("train", "eval")
    drift_split: str = "train"
    severity: Mapping[str, SeverityOverride] = field(default_factory=dict)


def find_anomalies(
    statistics: DatasetStatistics,
    schema: DataSchema,
    baseline: DatasetStatistics | None = None,
    options: ValidationOptions = ValidationOptions(),
) -> AnomalyReport:
    """Every anomaly of ``statistics`` against ``schema`` (and ``baseline``), errors first."""
    found = check_schema(statistics, schema)
    compared = {"schema": "every split against the schema"}
    not_checked: list[NotChecked] = []
    if options.skew_splits:
        first, second = options.skew_splits
        if first in statistics.splits and second in statistics.splits:
            skewed, unchecked = check_skew(statistics, schema, first, second)
            found += skewed
            not_checked += unchecked
            compared["skew"] = f"{first} split vs {second} split" + _unchecked_note(unchecked)
        else:
            compared["skew"] = f"skipped: the statistics have no {first!r} and {second!r} splits to compare"
    if baseline is not None:
        split = options.drift_split
        if split in statistics.splits and split in baseline.splits:
            drifted, unchecked = check_drift(statistics, baseline, schema, split)
            found += drifted
            not_checked += unchecked
            compared["drift"] = f"{split} split vs the baseline's {split} split" + _unchecked_note(unchecked)
        else:
            compared["drift"] = f"skipped: split {split!r} is missing from the statistics or the baseline"
    found = apply_severity(found, options.severity)
    found.sort(key=lambda a: a.severity != "error")
    return AnomalyReport(anomalies=found, compared=compared, not_checked=not_checked)


def _unchecked_note(unchecked: list[NotChecked]) -> str:
    if not unchecked:
        return ""
    n = len(unchecked)
    return f" ({n} column{'' if n == 1 else 's'} not measured: too little data)"


def apply_severity(anomalies: Iterable[Anomaly], overrides: Mapping[str, SeverityOverride]) -> list[Anomaly]:
    """Anomalies with their kind's overridden severity; kinds set to ``ignore`` are dropped."""
    out = []
    for anomaly in anomalies:
        wanted = overrides.get(anomaly.kind, anomaly.severity)
        if wanted == "ignore":
            continue
        out.append(anomaly if wanted == anomaly.severity else anomaly.model_copy(update={"severity": wanted}))
    return out


# -- against the schema -------------------------------------------------------


def check_schema(statistics: DatasetStatistics, schema: DataSchema) -> list[Anomaly]:
    """Empty splits, missing / new / retyped columns, then per-split domain, presence and range."""
    found: list[Anomaly] = []
    splits = []
    for split in statistics.splits.values():
        if split.num_rows <= 0:
            found.append(
                Anomaly.of(
                    "empty_split",
                    ALL_COLUMNS,
                    split.name,
                    "at least one row",
                    "0 rows",
                    f"The {split.name} split has no rows, so none of its columns could be checked.",
                    "Check the source data and the ingest `splits` weights (or the {split: path} mapping): "
                    f"nothing was assigned to {split.name}.",
                )
            )
        else:
            splits.append(split)
    found += _structural(splits, schema)
    for split in splits:
        for name, expected in schema.columns.items():
            column = split.columns.get(name)
            if column is None or _type_family(column.type) != _type_family(expected.type):
                continue
            found += _presence(split, column, expected)
            found += _domain(split, column, expected)
            found += _range(split, column, expected)
            found += _images(split, column, expected)
    return found


def _structural(splits: list[SplitStatistics], schema: DataSchema) -> list[Anomaly]:
    found: list[Anomaly] = []
    if not splits:
        return found
    seen: dict[str, ColumnStatistics] = {}
    for split in splits:
        for name, column in split.columns.items():
            seen.setdefault(name, column)
    new = [name for name in seen if name not in schema.columns]
    for name, expected in schema.columns.items():
        lacking = [s.name for s in splits if name not in s.columns]
        if lacking:
            near = closest(name, new)
            hint = f" (renamed to {near!r}?)" if near else ""
            found.append(
                Anomaly.of(
                    "missing_column",
                    name,
                    _split_field(lacking),
                    f"a column {name!r} of type {expected.type}",
                    f"no column {name!r} in {_splits_phrase(lacking, len(splits))}",
                    f"The schema expects a column {name!r} ({expected.type}), but {_splits_phrase(lacking, len(splits))} "
                    f"{'has' if len(lacking) == 1 else 'have'} no such column{hint}.",
                    f"If the column was dropped on purpose, delete columns.{name} {_CURATED}; otherwise restore it "
                    f"in the source data{hint}.",
                )
            )
    for name in new:
        having = [s.name for s in splits if name in s.columns]
        found.append(
            Anomaly.of(
                "new_column",
                name,
                _split_field(having),
                "only the columns the schema lists",
                f"a new column {name!r} of type {seen[name].type}",
                f"{_splits_phrase(having, len(splits)).capitalize()} {'has' if len(having) == 1 else 'have'} a column "
                f"{name!r} ({seen[name].type}) that the schema does not describe.",
                f"Add columns.{name} {_CURATED} (copy its entry from a freshly inferred schema.yaml), "
                "or drop the column from the data.",
            )
        )
    for name, expected in schema.columns.items():
        by_type: dict[str, list[str]] = {}
        for split in splits:
            observed = split.columns.get(name)
            if observed is not None and _type_family(observed.type) != _type_family(expected.type):
                by_type.setdefault(observed.type, []).append(split.name)
        for found_type, where in by_type.items():
            found.append(
                Anomaly.of(
                    "type_change",
                    name,
                    _split_field(where),
                    expected.type,
                    found_type,
                    f"Column {name!r} is {found_type} in {_splits_phrase(where, len(splits))}, but the schema "
                    f"expects {expected.type}{_type_hint(expected.type, found_type)}.",
                    f"If the new type is intended, set columns.{name}.type to {found_type} {_CURATED} (and review "
                    f"its domain and range); otherwise fix the source data or pin the type with the ingest "
                    f"column_types: {{{name}: {expected.type}}}.",
                )
            )
    return found


def _presence(split: SplitStatistics, column: ColumnStatistics, expected: ColumnSchema) -> list[Anomaly]:
    total = column.count + column.missing
    wanted = expected.presence.min_fraction
    if total <= 0:
        return []
    present = column.count / total
    if present >= wanted - 1e-12:
        return []
    name = column.name
    suggestion = max(0.0, math.floor(present * 100) / 100 - 0.02)
    return [
        Anomaly.of(
            "missing_fraction",
            name,
            split.name,
            f"a value in at least {pct(wanted)} of rows (presence.min_fraction {wanted:g})",
            f"a value in {pct(present)} of rows ({column.missing} of {total} missing)",
            f"Column {name!r} has a value in {pct(present)} of the {split.name} split's rows ({column.missing} of "
            f"{total} missing), below the schema's presence.min_fraction {wanted:g}.",
            f"Lower columns.{name}.presence.min_fraction to {suggestion:.2f} {_CURATED} if these values may be "
            "missing; otherwise find out why they are missing in the data.",
        )
    ]


def _domain(split: SplitStatistics, column: ColumnStatistics, expected: ColumnSchema) -> list[Anomaly]:
    if expected.domain is None or column.string is None or column.count <= 0:
        return []
    domain = set(expected.domain)
    listed = column.string.top_values
    offending = [v for v in listed if v.value not in domain]
    unlisted_surplus = (
        column.string.distinct_is_exact
        and len(listed) < column.string.distinct
        and column.string.distinct > len(domain)
    )
    if not offending and not unlisted_surplus:
        return []
    name = column.name
    rows = sum(v.count for v in offending)
    shown = ", ".join(f"{v.value!r} ({v.count})" for v in offending[:MAX_EXAMPLES])
    if offending:
        found = f"{len(offending)} value{'s' if len(offending) > 1 else ''} outside the domain: {shown}"
        explanation = (
            f"{rows} value{'s' if rows != 1 else ''} of {name!r} in the {split.name} split "
            f"({pct(rows / column.count)} of present values) "
            f"{'are' if rows != 1 else 'is'} not in the schema's domain: {shown}."
        )
        values = ", ".join(repr(v.value) for v in offending[:MAX_EXAMPLES])
        fix = (
            f"Add {values} to columns.{name}.domain {_CURATED} if {'they are' if len(offending) > 1 else 'it is'} "
            f"valid; otherwise fix or filter {'these values' if len(offending) > 1 else 'this value'} in the data."
        )
    else:
        found = f"{column.string.distinct} distinct values"
        explanation = (
            f"Column {name!r} has {column.string.distinct} distinct values in the {split.name} split but "
            f"its domain lists {len(domain)}; the extra values are beyond the statistics' top values."
        )
        fix = (
            f"Look at the values of {name!r} in the data; add the valid ones to columns.{name}.domain {_CURATED}, "
            f"or delete the domain to accept any value."
        )
    return [
        Anomaly.of(
            "out_of_domain",
            name,
            split.name,
            f"one of {listing(expected.domain)}",
            found,
            explanation,
            fix,
            examples=offending[:MAX_EXAMPLES],
        )
    ]


def _range(split: SplitStatistics, column: ColumnStatistics, expected: ColumnSchema) -> list[Anomaly]:
    bounds, numeric = expected.range, column.numeric
    if bounds is None or numeric is None or numeric.min is None or numeric.max is None:
        return []
    below = bounds.min is not None and numeric.min < bounds.min
    above = bounds.max is not None and numeric.max > bounds.max
    if not (below or above):
        return []
    name = column.name
    parts, fixes = [], []
    if below:
        parts.append(f"down to {num(numeric.min)}, below the schema's range.min {num(bounds.min)}")
        fixes.append(f"lower columns.{name}.range.min to {num(math.floor(numeric.min))}")
    if above:
        parts.append(f"up to {num(numeric.max)}, above the schema's range.max {num(bounds.max)}")
        fixes.append(f"raise columns.{name}.range.max to {num(math.ceil(numeric.max))}")
    return [
        Anomaly.of(
            "out_of_range",
            name,
            split.name,
            f"values between {num(bounds.min)} and {num(bounds.max)}",
            f"min {num(numeric.min)}, max {num(numeric.max)}",
            f"Values of {name!r} in the {split.name} split reach {' and '.join(parts)}.",
            f"{' and '.join(fixes).capitalize()} {_CURATED} if these values are valid; otherwise fix them in the data.",
        )
    ]


def _images(split: SplitStatistics, column: ColumnStatistics, expected: ColumnSchema) -> list[Anomaly]:
    """Undecodable images beyond the allowance, then shapes and channel counts the schema does not list."""
    constraints, images = expected.image, column.image
    if constraints is None or images is None or column.count <= 0:
        return []
    name, found = column.name, []
    share = images.undecodable / column.count
    if images.undecodable and share > constraints.max_undecodable_fraction + 1e-12:
        shown = "; ".join(images.undecodable_examples[:3])
        allowed = constraints.max_undecodable_fraction
        found.append(
            Anomaly.of(
                "undecodable_image",
                name,
                split.name,
                "every image decodes" if allowed == 0 else f"at most {pct(allowed)} undecodable images",
                f"{images.undecodable} of {column.count} images cannot be decoded",
                f"{images.undecodable} image{'s' if images.undecodable != 1 else ''} of {name!r} in the "
                f"{split.name} split ({pct(share)}) cannot be decoded, e.g. {shown}.",
                "Replace or delete these files in the source (re-save them as PNG or JPEG), or drop them at "
                "ingest (on_bad_rows); to accept a few, set "
                f"columns.{name}.image.max_undecodable_fraction to {math.ceil(share * 100) / 100:g} {_CURATED}.",
                examples=[ValueCount(value=text, count=1) for text in images.undecodable_examples[:MAX_EXAMPLES]],
            )
        )
    if constraints.shapes is not None and images.decoded:
        found += _outside(
            "image_shape",
            split,
            name,
            "shapes",
            [s.text for s in images.shapes],
            [s.count for s in images.shapes],
            constraints.shapes,
            images.distinct_shapes,
            "resize them to an accepted shape (or fix the source)",
        )
    if constraints.channels is not None and images.decoded:
        found += _outside(
            "image_channels",
            split,
            name,
            "channels",
            [c.channels for c in images.channels],
            [c.count for c in images.channels],
            constraints.channels,
            len(images.channels),
            "convert them (e.g. to RGB, or to grayscale) in the source",
        )
    return found


def _outside(
    kind: Literal["image_shape", "image_channels"],
    split: SplitStatistics,
    name: str,
    key: str,
    seen: list,
    counts: list[int],
    accepted: list,
    distinct: int,
    data_fix: str,
) -> list[Anomaly]:
    """Image shapes (``28x28``) or channel counts seen in ``split`` but not in the schema's accepted list."""
    offending = [(value, count) for value, count in zip(seen, counts, strict=True) if value not in accepted]
    unlisted = distinct > len(seen)
    if not offending and not unlisted:
        return []
    what = "shape" if kind == "image_shape" else "channel count"
    rows = sum(count for _, count in offending)
    shown = ", ".join(f"{value} ({count})" for value, count in offending[:MAX_EXAMPLES])
    if offending:
        values = ", ".join(str(value) for value, _ in offending[:MAX_EXAMPLES])
        explanation = (
            f"{rows} image{'s' if rows != 1 else ''} of {name!r} in the {split.name} split "
            f"{'have' if rows != 1 else 'has'} a {what} the schema does not accept: {shown}."
        )
        fix = (
            f"Add {values} to columns.{name}.image.{key} {_CURATED} if such images are valid (delete "
            f"`{key}` to accept any); otherwise {data_fix}."
        )
    else:
        explanation = (
            f"{name!r} has {distinct} distinct {what}s in the {split.name} split, more than the statistics list."
        )
        fix = f"Look at the images' {what}s; list the valid ones in columns.{name}.image.{key} {_CURATED}."
    return [
        Anomaly.of(
            kind,
            name,
            split.name,
            f"a {what} in {listing([str(a) for a in accepted])}",
            f"{len(offending)} other {what}{'s' if len(offending) != 1 else ''}: {shown}"
            if offending
            else f"{distinct} {what}s",
            explanation,
            fix,
            examples=[ValueCount(value=str(value), count=count) for value, count in offending[:MAX_EXAMPLES]],
        )
    ]


# -- words ----------------------------------------------------------------------


def _type_family(arrow_type: str) -> str:
    return _TYPE_ALIASES.get(arrow_type, arrow_type)


def _type_hint(expected: str, found: str) -> str:
    numeric = ("int", "uint", "float", "double", "decimal")
    if found in ("string", "large_string") and expected.startswith(numeric):
        return " (a numeric column read as text usually means a value like 'n/a' or '12 kg' in the source)"
    return ""


def _split_field(splits: list[str]) -> str | None:
    return splits[0] if len(splits) == 1 else None


def _splits_phrase(splits: list[str], of: int) -> str:
    if len(splits) == 1:
        return f"the {splits[0]} split"
    if len(splits) == of and of > 2:
        return f"all {of} splits"
    return f"the {', '.join(splits[:-1])} and {splits[-1]} splits"
