"""The ``validator`` component: statistics vs schema (and baseline) -> Anomalies, and a verdict.

TFX's ExampleValidator, plus the decision it leaves to the user: ``fail_on``
stops the pipeline when the data breaks the contract, with a message that
stands alone (the run's staged outputs are discarded on failure), listing each
anomaly and how to accept it into the curated schema.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator

from headrace.components.artifacts import Anomalies, Schema, Statistics
from headrace.components.contract import Component, Context, GateFailed, Input, Parameters
from headrace.components.files import write_text
from headrace.components.validator.anomalies import (
    DEFAULT_SEVERITY,
    SeverityOverride,
    ValidationOptions,
    find_anomalies,
)
from headrace.components.validator.formats import AnomalyReport
from headrace.components.validator.schema_file import (
    SCHEMA_FILE,
    read_published_schema,
    read_statistics,
)

MAX_LISTED = 10


class DataValidationError(GateFailed):
    """The data has anomalies at or above ``fail_on``; the message lists each with its fix."""


class ValidatorParameters(Parameters):
    """What to compare and when to fail."""

    fail_on: Literal["error", "warning", "never"] = Field(
        "error",
        description="Fail the run when an anomaly of this severity or worse is found; never = only report.",
    )
    severity: dict[str, SeverityOverride] = Field(
        default_factory=dict,
        description="Severity by anomaly kind, overriding the defaults (errors: missing_column, type_change, "
        "out_of_domain, out_of_range, missing_fraction, empty_split; warnings: new_column, skew, drift); "
        "'ignore' drops a kind. Example: {drift: error, new_column: ignore}.",
    )
    skew_splits: list[str] | None = Field(
        ["train", "eval"],
        min_length=2,
        max_length=2,
        description="The two splits compared for train/eval skew; null disables the skew check.",
    )
    drift_split: str = Field("train", description="The split compared with the same split of the baseline.")

    @field_validator("severity")
    @classmethod
    def _known_kinds(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(value) - set(DEFAULT_SEVERITY))
        if unknown:
            raise ValueError(
                f"unknown anomaly kind {', '.join(map(repr, unknown))}; kinds are {', '.join(DEFAULT_SEVERITY)}"
            )
        return value


class ValidatorComponent(Component[ValidatorParameters]):
    type = "validator"
    version = "2"  # 2: drift/skew measures with sample-size-aware thresholds
    description = "Check statistics against a schema, train/eval skew and drift from a baseline; write Anomalies."
    inputs = {
        "statistics": Input(Statistics, description="The statistics to check."),
        "schema": Input(Schema, description="The schema they must satisfy (inferred or curated)."),
        "baseline": Input(Statistics, optional=True, description="Earlier statistics to measure drift against."),
    }
    outputs = {"anomalies": Anomalies}
    Parameters = ValidatorParameters

    def run(self, ctx: Context[ValidatorParameters]) -> None:
        params = ctx.params
        statistics_artifact = ctx.input("statistics", Statistics)
        statistics = read_statistics(statistics_artifact.uri)
        schema_artifact = ctx.input("schema", Schema)
        schema_uri = schema_artifact.path(SCHEMA_FILE)
        schema = read_published_schema(schema_artifact.uri)
        baseline_artifact = ctx.optional_input("baseline", Statistics)
        baseline = read_statistics(baseline_artifact.uri) if baseline_artifact is not None else None
        options = ValidationOptions(
            skew_splits=tuple(params.skew_splits) if params.skew_splits else None,  # type: ignore[arg-type]
            drift_split=params.drift_split,
            severity=params.severity,
        )
        report = find_anomalies(statistics, schema, baseline, options)

        from headrace.components.validator.reports.anomalies_html import render_anomalies_html

        output = ctx.outputs["anomalies"]
        write_text(output.path("anomalies.json"), report.model_dump_json(indent=2) + "\n")
        write_text(
            output.path("anomalies.html"),
            render_anomalies_html(
                report, statistics, baseline, title=f"Anomalies of statistics {statistics_artifact.content_label}"
            ),
        )
        output.properties.update(anomaly_properties(report))
        counts = output.properties["counts"]
        ctx.metrics.log("anomaly_errors", counts["error"])
        ctx.metrics.log("anomaly_warnings", counts["warning"])
        ctx.log.info("%s", output.properties["summary"])
        for note in report.not_checked:
            ctx.log.info("%s of %s [%s] not measured: %s", note.kind, note.column, note.split, note.reason)
        if should_fail(report, params.fail_on):
            raise DataValidationError(failure_message(report, params.fail_on, schema_uri))


def anomaly_properties(report: AnomalyReport) -> dict[str, Any]:
    """What ``headrace show`` prints: counts, a one-line summary, the first anomalies in short."""
    return {
        "counts": _counts(report),
        "summary": summary_line(report),
        "anomalies": [
            {"column": a.column, "kind": a.kind, "severity": a.severity, **({"split": a.split} if a.split else {})}
            for a in report.anomalies[:MAX_LISTED]
        ],
    }


def _counts(report: AnomalyReport) -> dict[str, int]:
    errors = len(report.errors)
    return {"error": errors, "warning": len(report.anomalies) - errors}


def summary_line(report: AnomalyReport) -> str:
    """``2 errors, 1 warning: island out_of_domain; body_mass_g drift; sex missing_fraction``."""
    if not report.anomalies:
        return "no anomalies"
    counts = _counts(report)
    head = ", ".join(f"{n} {kind}{'' if n == 1 else 's'}" for kind, n in counts.items() if n)
    items: list[str] = []
    for a in report.anomalies:
        item = f"split {a.split} {a.kind}" if a.column == "*" else f"{a.column} {a.kind}"
        if item not in items:
            items.append(item)
    shown = "; ".join(items[:MAX_LISTED]) + (
        f"; ... ({len(items) - MAX_LISTED} more)" if len(items) > MAX_LISTED else ""
    )
    return f"{head}: {shown}"


def should_fail(report: AnomalyReport, fail_on: str) -> bool:
    if fail_on == "never":
        return False
    if fail_on == "warning":
        return bool(report.anomalies)
    return bool(report.errors)


def failure_message(report: AnomalyReport, fail_on: str, schema_file: str) -> str:
    """Every anomaly on its own lines (column, kind, expected, found, fix), the summary last.

    The summary comes last because the run's progress display shows the last
    line of a failure.
    """
    failing = report.anomalies if fail_on == "warning" else report.errors
    count = len(report.anomalies)
    noun = "anomaly" if count == 1 else "anomalies"
    lines = [f"data validation found {count} {noun}, {len(failing)} at or above fail_on: {fail_on}:"]
    for a in report.anomalies:
        where = f" [{a.split}]" if a.split else ""
        column = f"split {a.split}" if a.column == "*" else a.column
        lines += [
            f"  - {column}{where if a.column != '*' else ''}: {a.kind} ({a.severity})",
            f"      expected: {a.expected}",
            f"      found:    {a.found}",
            f"      {a.explanation}",
            f"      fix:      {a.fix}",
        ]
    lines += [
        (
            f"The schema checked was {schema_file}. To accept these changes, copy it into your project, edit it as "
            "the fixes say and set the schema component's params.path to it; to record anomalies without failing, "
            "set the validator's params.fail_on to never."
        ),
        f"data validation failed (fail_on: {fail_on}): {summary_line(report)}",
    ]
    return "\n".join(lines)
