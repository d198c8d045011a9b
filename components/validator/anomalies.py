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
from headrace.components.validator.distances import (
    OTHER_VALUES,
    category_shares,
    histogram_divergence,
    jensen_shannon_divergence,
    linf_distance,
)
from headrace.components.validator.formats import (
    Anomaly,
    AnomalyKind,
    AnomalyReport,
    ColumnSchema,
    ColumnStatistics,
    DataSchema,
    DatasetStatistics,
    SplitStatistics,
    ValueCount,
)

Severity = Literal["error", "warning"]
SeverityOverride = Literal["error", "warning", "ignore"]

DEFAULT_SEVERITY: dict[str, Severity] = {
    "missing_column": "error",
    "type_change": "error",
    "out_of_domain": "error",
    "out_of_range": "error",
    "missing_fraction": "error",
    "empty_split": "error",
    "new_column": "warning",
    "skew": "warning",
    "drift": "warning",
}
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
    if options.skew_splits:
        first, second = options.skew_splits
        if first in statistics.splits and second in statistics.splits:
            found += check_skew(statistics, schema, first, second)
            compared["skew"] = f"{first} split vs {second} split"
        else:
            compared["skew"] = f"skipped: the statistics have no {first!r} and {second!r} splits to compare"
    if baseline is not None:
        split = options.drift_split
        if split in statistics.splits and split in baseline.splits:
            found += check_drift(statistics, baseline, schema, split)
            compared["drift"] = f"{split} split vs the baseline's {split} split"
        else:
            compared["drift"] = f"skipped: split {split!r} is missing from the statistics or the baseline"
    found = apply_severity(found, options.severity)
    found.sort(key=lambda a: a.severity != "error")
    return AnomalyReport(anomalies=found, compared=compared)


def apply_severity(anomalies: Iterable[Anomaly], overrides: Mapping[str, SeverityOverride]) -> list[Anomaly]:
    """Anomalies with their kind's overridden severity; kinds set to ``ignore`` are dropped."""
    out = []
    for anomaly in anomalies:
        wanted = overrides.get(anomaly.kind, anomaly.severity)
        if wanted == "ignore":
            continue
        out.append(anomaly if wanted == anomaly.severity else anomaly.model_copy(update={"severity": wanted}))
    return out


def _anomaly(
    kind: AnomalyKind,
    column: str,
    split: str | None,
    expected: str,
    found: str,
    explanation: str,
    fix: str,
    examples: list[ValueCount] | None = None,
) -> Anomaly:
    return Anomaly(
        column=column,
        split=split,
        kind=kind,
        severity=DEFAULT_SEVERITY[kind],
        expected=expected,
        found=found,
        explanation=explanation,
        fix=fix,
        examples=examples or [],
    )


# -- against the schema -------------------------------------------------------


def check_schema(statistics: DatasetStatistics, schema: DataSchema) -> list[Anomaly]:
    """Empty splits, missing / new / retyped columns, then per-split domain, presence and range."""
    found: list[Anomaly] = []
    splits = []
    for split in statistics.splits.values():
        if split.num_rows <= 0:
            found.append(
                _anomaly(
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
                _anomaly(
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
            _anomaly(
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
                _anomaly(
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
        _anomaly(
            "missing_fraction",
            name,
            split.name,
            f"a value in at least {_pct(wanted)} of rows (presence.min_fraction {wanted:g})",
            f"a value in {_pct(present)} of rows ({column.missing} of {total} missing)",
            f"Column {name!r} has a value in {_pct(present)} of the {split.name} split's rows ({column.missing} of "
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
            f"({_pct(rows / column.count)} of present values) "
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
        _anomaly(
            "out_of_domain",
            name,
            split.name,
            f"one of {_listing(expected.domain)}",
            found,
            explanation,
            fix,
            offending[:MAX_EXAMPLES],
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
        parts.append(f"down to {_num(numeric.min)}, below the schema's range.min {_num(bounds.min)}")
        fixes.append(f"lower columns.{name}.range.min to {_num(math.floor(numeric.min))}")
    if above:
        parts.append(f"up to {_num(numeric.max)}, above the schema's range.max {_num(bounds.max)}")
        fixes.append(f"raise columns.{name}.range.max to {_num(math.ceil(numeric.max))}")
    return [
        _anomaly(
            "out_of_range",
            name,
            split.name,
            f"values between {_num(bounds.min)} and {_num(bounds.max)}",
            f"min {_num(numeric.min)}, max {_num(numeric.max)}",
            f"Values of {name!r} in the {split.name} split reach {' and '.join(parts)}.",
            f"{' and '.join(fixes).capitalize()} {_CURATED} if these values are valid; otherwise fix them in the data.",
        )
    ]


# -- between two distributions -------------------------------------------------


def check_skew(statistics: DatasetStatistics, schema: DataSchema, first: str, second: str) -> list[Anomaly]:
    """Columns whose ``first`` and ``second`` splits differ by more than the schema's skew thresholds."""
    a, b = statistics.splits[first], statistics.splits[second]
    return _compare(a, b, schema, "skew", f"the {first} split", f"the {second} split", first)


def check_drift(
    statistics: DatasetStatistics, baseline: DatasetStatistics, schema: DataSchema, split: str = "train"
) -> list[Anomaly]:
    """Columns of ``split`` that moved away from the baseline's ``split`` by more than the drift thresholds."""
    return _compare(
        baseline.splits[split], statistics.splits[split], schema, "drift", f"the {split} split", "the baseline", split
    )


def _compare(
    old: SplitStatistics,
    new: SplitStatistics,
    schema: DataSchema,
    kind: Literal["skew", "drift"],
    subject: str,
    other: str,
    split: str,
) -> list[Anomaly]:
    """Distances from ``old`` to ``new``; sentences name ``subject`` (what is checked) against ``other``."""
    found: list[Anomaly] = []
    for name, expected in schema.columns.items():
        threshold = expected.skew if kind == "skew" else expected.drift
        a, b = old.columns.get(name), new.columns.get(name)
        if threshold is None or a is None or b is None or a.kind != b.kind or a.count <= 0 or b.count <= 0:
            continue
        if threshold.linf is not None:
            p, q = category_shares(a), category_shares(b)
            if p is not None and q is not None:
                d = linf_distance(p, q)
                if d.distance > threshold.linf:
                    moved = (
                        f"largest for {_value_name(d.value)}: {_pct(d.share_a)} → {_pct(d.share_b)}"
                        if d.value is not None
                        else ""
                    )
                    found.append(
                        _distance_anomaly(
                            kind,
                            name,
                            split,
                            "L-infinity distance",
                            "linf",
                            d.distance,
                            threshold.linf,
                            f"the share of each {name} value in {subject} and in {other}",
                            moved,
                        )
                    )
        if threshold.jensen_shannon is not None:
            divergence, what, moved = _divergence(a, b, name, subject, other)
            if divergence is not None and divergence > threshold.jensen_shannon:
                found.append(
                    _distance_anomaly(
                        kind,
                        name,
                        split,
                        "Jensen-Shannon divergence",
                        "jensen_shannon",
                        divergence,
                        threshold.jensen_shannon,
                        what,
                        moved,
                    )
                )
    return found


def _divergence(
    a: ColumnStatistics, b: ColumnStatistics, name: str, subject: str, other: str
) -> tuple[float | None, str, str]:
    """JS divergence of histograms for numeric columns, of category shares otherwise; with words for both."""
    if a.numeric and b.numeric and a.numeric.histogram and b.numeric.histogram:
        moved = ""
        if a.numeric.mean is not None and b.numeric.mean is not None:
            moved = f"mean {_num(a.numeric.mean, 4)} → {_num(b.numeric.mean, 4)}"
        return (
            histogram_divergence(a.numeric.histogram, b.numeric.histogram),
            f"{subject}'s {name} histogram and {other}'s",
            moved,
        )
    p, q = category_shares(a), category_shares(b)
    if p is None or q is None:
        return None, "", ""
    keys = sorted(set(p) | set(q))
    return (
        jensen_shannon_divergence([p.get(k, 0.0) for k in keys], [q.get(k, 0.0) for k in keys]),
        f"the share of each {name} value in {subject} and in {other}",
        "",
    )


def _distance_anomaly(
    kind: Literal["skew", "drift"],
    name: str,
    split: str,
    measure: str,
    key: str,
    value: float,
    threshold: float,
    what: str,
    moved: str,
) -> Anomaly:
    meaning = "the two splits do not look alike" if kind == "skew" else "the distribution has moved"
    suggestion = min(1.0, math.floor(value * 20 + 1) / 20)
    if kind == "skew":
        data_fix = "or re-split the data (another split_key or split weights) so train and eval look alike"
    else:
        data_fix = "or find out why the data changed (a new source, a broken feed, a real shift to retrain on)"
    return _anomaly(
        kind,
        name,
        split if kind == "drift" else None,
        f"{measure} at most {_dist(threshold)} ({kind}.{key})",
        f"{measure} {_dist(value)}",
        f"The {measure} between {what} is {_dist(value)}, above the threshold {_dist(threshold)}: {meaning}"
        + (f" ({moved})." if moved else "."),
        f"Raise columns.{name}.{kind}.{key} to {suggestion:g} {_CURATED} to accept it, {data_fix}.",
    )


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


def _value_name(value: str) -> str:
    return "values outside the top values" if value == OTHER_VALUES else repr(value)


def _listing(values: list[str], limit: int = 12) -> str:
    shown = ", ".join(values[:limit])
    return shown + (f", ... ({len(values)} values)" if len(values) > limit else "")


def _pct(share: float) -> str:
    return f"{share * 100:.1f}%".replace(".0%", "%")


def _dist(value: float) -> str:
    return f"{value:.2f}" if value >= 0.01 or value == 0 else f"{value:.2g}"


def _num(value: float | None, significant: int = 6) -> str:
    """A number as a person writes it: 4202, 1200.5, 0.1234; exponent notation only when it must."""
    if value is None:
        return "unbounded"
    if float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))
    if abs(value) >= 1e9 or abs(value) < 1e-4:
        return f"{value:.{significant}g}"
    digits = max(0, significant - 1 - math.floor(math.log10(abs(value))))
    text = f"{round(value, digits):.{digits}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text
