"""Anomalies, distances and the ``validator`` component, on hand-built statistics."""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path

import pytest

from headrace.components.artifacts import Anomalies, Schema
from headrace.components.contract import Context
from headrace.components.validator.anomalies import ValidationOptions, find_anomalies
from headrace.components.validator.formats import (
    ColumnStatistics,
    DatasetStatistics,
    NumericStatistics,
    SplitStatistics,
    ValueCount,
)
from headrace.components.validator.schema_file import parse_schema, write_schema_file
from headrace.components.validator.schema_inference import infer_schema
from headrace.components.validator.validator_component import (
    DataValidationError,
    ValidatorComponent,
    ValidatorParameters,
)
from tests.test_schema import (
    numbers,
    penguin_split,
    penguin_statistics,
    strings,
    write_statistics,
)


def kinds(report) -> list[tuple[str, str]]:
    return sorted((a.column, a.kind) for a in report.anomalies)


def one(report, kind: str):
    matching = [a for a in report.anomalies if a.kind == kind]
    assert len(matching) == 1, report.anomalies
    return matching[0]


@pytest.fixture
def schema():
    return infer_schema(penguin_statistics())


# -- anomalies against the schema ----------------------------------------------------------


def test_identical_statistics_have_no_anomalies(schema):
    stats = penguin_statistics()
    report = find_anomalies(stats, schema, baseline=penguin_statistics())
    assert report.anomalies == []
    assert set(report.compared) == {"schema", "skew", "drift"}


def test_missing_new_and_retyped_columns_are_reported_once_across_splits(schema):
    stats = penguin_statistics()
    for split in stats.splits.values():
        del split.columns["sex"]
        split.columns["gender"] = strings("gender", {"m": 130, "f": 136})
        split.columns["body_mass_g"] = strings("body_mass_g", {"4200": 200, "n/a": 75})
    report = find_anomalies(stats, schema)
    assert kinds(report) == [("body_mass_g", "type_change"), ("gender", "new_column"), ("sex", "missing_column")]
    missing = one(report, "missing_column")
    assert missing.severity == "error" and missing.split is None
    assert "the train and eval splits have no such column" in missing.explanation
    assert "delete columns.sex in your curated schema.yaml" in missing.fix
    new = one(report, "new_column")
    assert new.severity == "warning" and "Add columns.gender" in new.fix
    retyped = one(report, "type_change")
    assert (retyped.expected, retyped.found) == ("double", "string")
    assert "a numeric column read as text" in retyped.explanation
    assert "set columns.body_mass_g.type to string" in retyped.fix
    assert report.anomalies[0].severity == "error"  # errors first


def test_schema_column_absent_from_the_data_is_a_missing_column(schema):
    schema.columns["flipper_colour"] = schema.columns["island"].model_copy()
    report = find_anomalies(penguin_statistics(), schema)
    assert kinds(report) == [("flipper_colour", "missing_column")]


def test_out_of_domain_lists_the_offending_values_with_counts(schema):
    stats = penguin_statistics()
    stats.splits["eval"].columns["island"] = strings(
        "island", {"Biscoe": 135, "Dream": 100, "Torgersen": 28, "Atlantis": 12}
    )
    report = find_anomalies(stats, schema, options=ValidationOptions(skew_splits=None))
    anomaly = one(report, "out_of_domain")
    assert (anomaly.column, anomaly.split, anomaly.severity) == ("island", "eval", "error")
    assert anomaly.examples == [ValueCount(value="Atlantis", count=12)]
    assert anomaly.expected == "one of Biscoe, Dream, Torgersen"
    assert (
        "12 values of 'island' in the eval split (4.4% of present values) are not in the schema's domain"
        in anomaly.explanation
    )
    assert anomaly.fix.startswith("Add 'Atlantis' to columns.island.domain in your curated schema.yaml")


def test_missing_fraction_and_an_entirely_null_column(schema):
    stats = penguin_statistics()
    stats.splits["eval"].columns["sex"] = strings("sex", {"male": 100, "female": 100}, missing=75)
    stats.splits["eval"].columns["bill_length_mm"] = ColumnStatistics(
        name="bill_length_mm", type="double", kind="numeric", count=0, missing=275, numeric=NumericStatistics()
    )
    report = find_anomalies(stats, schema, baseline=penguin_statistics())
    assert kinds(report) == [("bill_length_mm", "missing_fraction"), ("sex", "missing_fraction")]
    sex = next(a for a in report.anomalies if a.column == "sex")
    assert sex.explanation == (
        "Column 'sex' has a value in 72.7% of the eval split's rows (75 of 275 missing), "
        "below the schema's presence.min_fraction 0.94."
    )
    assert "Lower columns.sex.presence.min_fraction to 0.70" in sex.fix
    null = next(a for a in report.anomalies if a.column == "bill_length_mm")
    assert "a value in 0% of rows" in null.found


def test_values_outside_the_range(schema):
    stats = penguin_statistics()
    stats.splits["eval"].columns["body_mass_g"] = numbers("body_mass_g", 1200.5, 6300, [60, 110, 70, 35], mean=4202)
    report = find_anomalies(stats, schema, options=ValidationOptions(skew_splits=None))
    anomaly = one(report, "out_of_range")
    assert anomaly.expected == "values between 2340 and 6660" and anomaly.found == "min 1200.5, max 6300"
    assert "reach down to 1200.5, below the schema's range.min 2340" in anomaly.explanation
    assert anomaly.fix.startswith("Lower columns.body_mass_g.range.min to 1200 in your curated schema.yaml")


def test_empty_split_is_reported_and_not_checked_further(schema):
    stats = penguin_statistics()
    stats.splits["eval"] = SplitStatistics(name="eval", num_rows=0, columns={})
    report = find_anomalies(stats, schema)
    assert kinds(report) == [("*", "empty_split")]
    assert (
        one(report, "empty_split").explanation == "The eval split has no rows, so none of its columns could be checked."
    )
    all_empty = DatasetStatistics(splits={"train": SplitStatistics(name="train", num_rows=0, columns={})})
    assert kinds(find_anomalies(all_empty, schema)) == [("*", "empty_split")]


# -- skew and drift ------------------------------------------------------------------------


def test_drift_for_a_shifted_numeric_column(schema):
    stats = penguin_statistics()
    # the same shape moved up by 900 g
    stats.splits["train"].columns["body_mass_g"] = numbers("body_mass_g", 3600, 7200, [60, 110, 70, 35])
    schema.columns["body_mass_g"].range = None
    report = find_anomalies(stats, schema, baseline=penguin_statistics(), options=ValidationOptions(skew_splits=None))
    anomaly = one(report, "drift")
    old = penguin_split().columns["body_mass_g"].numeric
    new = stats.splits["train"].columns["body_mass_g"].numeric
    assert (anomaly.column, anomaly.split, anomaly.severity) == ("body_mass_g", "train", "warning")
    wasserstein = next(m for m in anomaly.comparison.measures if m.measure == "wasserstein")
    assert wasserstein.value == pytest.approx(900 / old.std_dev)  # a pure shift: the shift in standard deviations
    assert anomaly.found == f"Wasserstein distance {wasserstein.value:.2f}"
    shift = (new.mean - old.mean) / old.std_dev
    assert anomaly.explanation.startswith(
        f"The train split's body_mass_g has moved away from the baseline's: mean {old.mean:,.0f} → {new.mean:,.0f} g, "
        f"+{shift:.2f} standard deviations; standard deviation {old.std_dev:,.1f} → {new.std_dev:,.1f} g (×1.00). "
        f"Wasserstein distance {wasserstein.value:.2f}, above the threshold {wasserstein.applied:.2f}; "
        "standard deviation change 0.00; PSI "
    )
    assert anomaly.expected.startswith("Wasserstein distance at most 0.10 (drift.wasserstein); raised to ")
    assert "what chance reaches between 275 and 275 values" in anomaly.expected
    suggested = math.floor(wasserstein.value * 20 + 1) / 20
    assert anomaly.fix.startswith(f"Raise columns.body_mass_g.drift.wasserstein to {suggested:g} in your curated")


def test_drift_for_a_new_category(schema):
    stats = penguin_statistics()
    stats.splits["train"].columns["island"] = strings(
        "island", {"Biscoe": 90, "Dream": 100, "Torgersen": 40, "Atlantis": 45}
    )
    report = find_anomalies(stats, schema, baseline=penguin_statistics(), options=ValidationOptions(skew_splits=None))
    assert kinds(report) == [("island", "drift"), ("island", "out_of_domain")]
    drift = one(report, "drift")
    assert drift.found.startswith("L-infinity distance 0.16, PSI ")
    assert drift.explanation.startswith(
        "The train split's island has moved away from the baseline's: the share of 'Atlantis' 0% → 16.4% "
        "(+16.4 points). L-infinity distance 0.16, above the threshold "
    )
    assert "Raise columns.island.drift.linf to 0.2 and columns.island.drift.psi to " in drift.fix


def test_skew_between_train_and_eval(schema):
    stats = penguin_statistics()
    stats.splits["eval"].columns["species"] = strings("species", {"Adelie": 40, "Gentoo": 180, "Chinstrap": 55})
    report = find_anomalies(stats, schema)
    skew = one(report, "skew")
    assert (skew.column, skew.severity, skew.split) == ("species", "warning", None)
    assert skew.explanation.startswith(
        "The eval split's species does not look like the train split's: the share of 'Adelie' 43.6% → 14.5% "
        "(-29.1 points). L-infinity distance 0.29, above the threshold"
    )
    assert (skew.comparison.old_split, skew.comparison.new_split, skew.comparison.old_is_baseline) == (
        "train",
        "eval",
        False,
    )
    assert "re-split the data" in skew.fix
    assert kinds(find_anomalies(stats, schema, options=ValidationOptions(skew_splits=("train", "test")))) == []


def test_old_drift_keys_still_load_and_are_measured(tmp_path):
    """A schema.yaml written before the new measures (jensen_shannon for numbers, linf for categories) still works."""
    old = (
        "version: 1\ncolumns:\n"
        "  body_mass_g:\n    type: double\n    skew: {jensen_shannon: 0.1}\n    drift: {jensen_shannon: 0.1}\n"
        "  island:\n    type: string\n    skew: {linf: 0.15}\n    drift: {linf: 0.1}\n"
    )
    schema = parse_schema(old)
    stats = penguin_statistics()
    stats.splits["train"].columns["body_mass_g"] = numbers("body_mass_g", 5000, 8600, [60, 110, 70, 35])
    stats.splits["train"].columns["island"] = strings("island", {"Biscoe": 60, "Dream": 100, "Torgersen": 115})
    report = find_anomalies(stats, schema, baseline=penguin_statistics(), options=ValidationOptions(skew_splits=None))
    found = {a.column: a for a in report.anomalies if a.kind == "drift"}
    assert set(found) == {"body_mass_g", "island"}
    assert found["body_mass_g"].found.startswith("Jensen-Shannon divergence ")
    assert found["island"].found.startswith("L-infinity distance 0.27")


def test_severity_overrides_and_ignore(schema):
    stats = penguin_statistics()
    stats.splits["eval"].columns["species"] = strings("species", {"Adelie": 40, "Gentoo": 180, "Chinstrap": 55})
    stats.splits["eval"].columns["extra"] = strings("extra", {"x": 275})
    report = find_anomalies(
        stats, schema, options=ValidationOptions(severity={"skew": "error", "new_column": "ignore"})
    )
    assert [(a.kind, a.severity) for a in report.anomalies] == [("skew", "error")]


# -- the component ---------------------------------------------------------------------------


def run_validator(
    tmp_path: Path,
    stats: DatasetStatistics,
    baseline: DatasetStatistics | None = None,
    schema_text: str | None = None,
    **params,
) -> Anomalies:
    schema_dir = tmp_path / "schema"
    schema_dir.mkdir(exist_ok=True)
    if schema_text is None:
        write_schema_file(str(schema_dir / "schema.yaml"), infer_schema(penguin_statistics()))
    else:
        (schema_dir / "schema.yaml").write_text(schema_text)
    inputs = {
        "statistics": write_statistics(tmp_path / "stats", stats),
        "schema": Schema(uri=str(schema_dir)),
        "baseline": write_statistics(tmp_path / "baseline", baseline) if baseline else None,
    }
    ctx = Context(
        component="validate",
        inputs=inputs,
        outputs={"anomalies": Anomalies(uri=str(tmp_path / "out"))},
        params=ValidatorParameters(**params),
        log=logging.getLogger("test.validator"),
        base_dir=str(tmp_path),
    )
    ValidatorComponent().run(ctx)
    return ctx.outputs["anomalies"]


def broken_statistics() -> DatasetStatistics:
    stats = penguin_statistics()
    stats.splits["eval"].columns["island"] = strings(
        "island", {"Biscoe": 135, "Dream": 100, "Torgersen": 28, "Atlantis": 12}
    )
    stats.splits["eval"].columns["sex"] = strings("sex", {"male": 100, "female": 100}, missing=75)
    for split in stats.splits.values():  # drift from the baseline, but no train/eval skew
        split.columns["body_mass_g"] = numbers("body_mass_g", 3600, 6600, [60, 110, 70, 35], mean=5080)
    return stats


def drifted() -> DatasetStatistics:
    stats = penguin_statistics()
    for split in stats.splits.values():
        split.columns["body_mass_g"] = numbers("body_mass_g", 3600, 6600, [60, 110, 70, 35])
    return stats


def test_clean_data_passes_and_writes_the_artifact(tmp_path):
    anomalies = run_validator(tmp_path, penguin_statistics(), baseline=penguin_statistics())
    report = json.loads((tmp_path / "out" / "anomalies.json").read_text())
    assert report["anomalies"] == [] and report["version"] == 1
    assert (tmp_path / "out" / "anomalies.html").exists()
    assert anomalies.properties == {"counts": {"error": 0, "warning": 0}, "summary": "no anomalies", "anomalies": []}


def test_fail_on_error_raises_with_every_anomaly_listed_after_writing_files(tmp_path):
    with pytest.raises(DataValidationError) as caught:
        run_validator(tmp_path, broken_statistics(), baseline=penguin_statistics())
    message = str(caught.value)
    assert "island [eval]: out_of_domain (error)" in message
    assert "expected: one of Biscoe, Dream, Torgersen" in message
    assert "found:    1 value outside the domain: 'Atlantis' (12)" in message
    assert "fix:      Add 'Atlantis' to columns.island.domain in your curated schema.yaml" in message
    assert "sex [eval]: missing_fraction (error)" in message
    assert "body_mass_g [train]: drift (warning)" in message
    assert "island: skew (warning)" in message  # eval's new value at 4.4% of rows is skew too
    assert message.splitlines()[-1] == (
        "data validation failed (fail_on: error): 2 errors, 2 warnings: "
        "island out_of_domain; sex missing_fraction; island skew; body_mass_g drift"
    )
    written = json.loads((tmp_path / "out" / "anomalies.json").read_text())
    assert len(written["anomalies"]) == 4 and (tmp_path / "out" / "anomalies.html").exists()


def test_fail_on_warning_and_never(tmp_path):
    drift_only = drifted()
    anomalies = run_validator(tmp_path, drift_only, baseline=penguin_statistics())  # warnings pass fail_on: error
    assert anomalies.properties["counts"] == {"error": 0, "warning": 1}
    with pytest.raises(DataValidationError, match=r"fail_on: warning\): 1 warning: body_mass_g drift$"):
        run_validator(tmp_path, drift_only, baseline=penguin_statistics(), fail_on="warning")
    anomalies = run_validator(tmp_path, broken_statistics(), baseline=penguin_statistics(), fail_on="never")
    assert anomalies.properties["counts"] == {"error": 2, "warning": 2}
    assert (
        anomalies.properties["summary"]
        == "2 errors, 2 warnings: island out_of_domain; sex missing_fraction; island skew; body_mass_g drift"
    )
    assert anomalies.properties["anomalies"][0] == {
        "column": "island",
        "kind": "out_of_domain",
        "severity": "error",
        "split": "eval",
    }


def test_severity_parameter_turns_drift_into_an_error(tmp_path):
    drift_only = drifted()
    with pytest.raises(DataValidationError, match="1 error: body_mass_g drift"):
        run_validator(tmp_path, drift_only, baseline=penguin_statistics(), severity={"drift": "error"})
    with pytest.raises(ValueError, match="unknown anomaly kind 'drfit'"):
        ValidatorParameters(severity={"drfit": "error"})


def test_a_broken_schema_file_is_a_clear_error(tmp_path):
    from headrace.components.validator.schema_file import SchemaFileError

    with pytest.raises(SchemaFileError, match=r"schema\.yaml:3:12: error: columns\.a\.range: expected a mapping"):
        run_validator(tmp_path, penguin_statistics(), schema_text="columns:\n  a:\n    range: 5\n    type: double\n")
