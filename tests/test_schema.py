"""Schema inference, the schema.yaml file and the ``schema`` component, on hand-built statistics."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import yaml

from headrace.components.artifacts import Schema, Statistics
from headrace.components.contract import Context
from headrace.components.validator.formats import (
    ColumnStatistics,
    DataSchema,
    DatasetStatistics,
    DistanceThreshold,
    Histogram,
    NumericStatistics,
    SplitStatistics,
    StringStatistics,
    ValueCount,
)
from headrace.components.validator.schema_component import SchemaComponent, SchemaParameters
from headrace.components.validator.schema_file import (
    SchemaFileError,
    parse_schema,
    read_schema_file,
    schema_to_yaml,
)
from headrace.components.validator.schema_inference import (
    InferenceOptions,
    choose_split,
    infer_schema,
)


def strings(name: str, counts: dict[str, int], missing: int = 0) -> ColumnStatistics:
    return ColumnStatistics(
        name=name,
        type="string",
        kind="string",
        count=sum(counts.values()),
        missing=missing,
        string=StringStatistics(
            distinct=len(counts), top_values=[ValueCount(value=v, count=c) for v, c in counts.items()]
        ),
    )


def numbers(
    name: str,
    low: float,
    high: float,
    counts: list[float],
    missing: int = 0,
    mean: float | None = None,
    type: str = "double",
) -> ColumnStatistics:
    """A numeric column uniform within each of its equal-width buckets: percentiles, mean and spread follow."""
    step = (high - low) / len(counts)
    edges = [low + i * step for i in range(len(counts))] + [high]
    total = sum(counts)
    cumulative = [sum(counts[:i]) / total for i in range(len(counts) + 1)]

    def quantile(u: float) -> float:
        for i in range(len(counts)):
            if counts[i] and cumulative[i + 1] >= u:
                return edges[i] + (edges[i + 1] - edges[i]) * (u - cumulative[i]) / (counts[i] / total)
        return high

    middles = [(edges[i] + edges[i + 1]) / 2 for i in range(len(counts))]
    centre = sum(c * m for c, m in zip(counts, middles, strict=True)) / total
    variance = sum(c * ((m - centre) ** 2 + step**2 / 12) for c, m in zip(counts, middles, strict=True)) / total
    return ColumnStatistics(
        name=name,
        type=type,
        kind="numeric",
        count=int(total),
        missing=missing,
        numeric=NumericStatistics(
            min=low,
            max=high,
            mean=mean if mean is not None else centre,
            std_dev=variance**0.5,
            kurtosis=3.0,
            histogram=Histogram(boundaries=edges, counts=counts),
            percentiles=[low, *(quantile(i / 100) for i in range(1, 100)), high],
        ),
    )


def penguin_split(name: str = "train") -> SplitStatistics:
    columns = [
        strings("species", {"Adelie": 120, "Gentoo": 100, "Chinstrap": 55}),
        strings("island", {"Biscoe": 135, "Dream": 100, "Torgersen": 40}),
        strings("sex", {"male": 136, "female": 130}, missing=9),
        numbers("bill_length_mm", 32.1, 59.6, [40, 90, 100, 43], missing=2),
        numbers("body_mass_g", 2700, 6300, [60, 110, 70, 35], missing=0, mean=4202),
        numbers("year", 2007, 2009, [90, 95, 90], type="int64"),
    ]
    return SplitStatistics(name=name, num_rows=275, columns={c.name: c for c in columns})


def penguin_statistics(*splits: str) -> DatasetStatistics:
    return DatasetStatistics(splits={s: penguin_split(s) for s in splits or ("train", "eval")})


# -- inference -------------------------------------------------------------------


def test_inference_gives_types_presence_domains_ranges_and_thresholds():
    schema = infer_schema(penguin_statistics())
    cols = schema.columns
    assert set(cols) == {"species", "island", "sex", "bill_length_mm", "body_mass_g", "year"}
    assert cols["species"].type == "string" and cols["body_mass_g"].type == "double" and cols["year"].type == "int64"
    # required when nothing is missing; else observed share (266/275 = 0.967) floored to 0.96 minus 0.02 slack
    assert cols["species"].presence.min_fraction == 1.0
    assert cols["sex"].presence.min_fraction == pytest.approx(0.94)
    assert cols["bill_length_mm"].presence.min_fraction == pytest.approx(0.97)  # 273/275 = 0.9927 -> 0.99 - 0.02
    assert cols["island"].domain == ["Biscoe", "Dream", "Torgersen"]
    assert cols["body_mass_g"].domain is None
    # observed 2700..6300 widened by 10% of the span (360) on each side
    assert (cols["body_mass_g"].range.min, cols["body_mass_g"].range.max) == (2340, 6660)
    assert (cols["year"].range.min, cols["year"].range.max) == (2006, 2010)  # whole numbers for int64
    # categorical: a share moving 5 points, or PSI 0.1; numeric: 0.1 standard deviations, or a 10% change of spread
    assert cols["island"].drift == cols["island"].skew == DistanceThreshold(linf=0.05, psi=0.1)
    assert cols["body_mass_g"].drift == cols["year"].skew == DistanceThreshold(wasserstein=0.1, std_change=0.1)


def test_inference_options_and_limits():
    stats = penguin_statistics()
    schema = infer_schema(stats, options=InferenceOptions(max_domain_size=2, range_margin=0.0))
    assert schema.columns["island"].domain is None  # 3 distinct > 2
    assert schema.columns["sex"].domain == ["female", "male"]
    assert schema.columns["body_mass_g"].range.min == 2700
    # a count that is not exact, or top_values that do not list every value, gives no domain
    stats.splits["train"].columns["island"].string.distinct_is_exact = False
    stats.splits["train"].columns["species"].string.distinct = 4
    schema = infer_schema(stats)
    assert schema.columns["island"].domain is None and schema.columns["species"].domain is None


def test_inference_split_choice_and_degenerate_columns():
    assert choose_split(penguin_statistics("eval", "train")) == "train"
    assert choose_split(penguin_statistics("eval", "test")) == "eval"
    nulls = ColumnStatistics(
        name="empty", type="double", kind="numeric", count=0, missing=10, numeric=NumericStatistics()
    )
    constant = numbers("constant", 5.0, 5.0, [10])
    negative = numbers("delta", -3.0, 4.0, [5, 5])
    stats = DatasetStatistics(
        splits={
            "only": SplitStatistics(
                name="only", num_rows=10, columns={"empty": nulls, "constant": constant, "delta": negative}
            )
        }
    )
    schema = infer_schema(stats)
    assert schema.columns["empty"].presence.min_fraction == 0.0 and schema.columns["empty"].range is None
    assert (schema.columns["constant"].range.min, schema.columns["constant"].range.max) == (5.0, 5.0)
    assert schema.columns["delta"].range.min == pytest.approx(-3.7)
    with pytest.raises(ValueError, match="split 'train' is not in the statistics"):
        infer_schema(stats, "train")


# -- the file ------------------------------------------------------------------------


def test_yaml_round_trip_is_equal_commented_and_stable():
    schema = infer_schema(penguin_statistics())
    text = schema_to_yaml(schema, origin="Inferred from the train split.", notes={"island": "train: 275 of 275"})
    assert parse_schema(text) == schema
    assert text.startswith("# headrace data schema")
    assert "params: {path: schema.yaml}" in text  # the header says how to feed it back
    assert "  # train: 275 of 275\n  island:" in text
    names = [
        line.strip().rstrip(":")
        for line in text.splitlines()
        if line.startswith("  ") and line.endswith(":") and not line.startswith("    ")
    ]
    assert names == sorted(names)
    assert schema_to_yaml(schema) == schema_to_yaml(DataSchema.model_validate(schema.model_dump()))
    assert yaml.safe_load(text)["columns"]["body_mass_g"]["range"] == {"min": 2340, "max": 6660}
    # each column's measures come with the reason they were chosen, right above them
    island = text[text.index("  island:") :]
    assert island.index("    # linf sees a value's share move") < island.index("    skew: {linf: 0.05, psi: 0.1}")
    assert "# wasserstein sees a shift (0.5 sd reads 0.5)" in text
    assert max(len(line) for line in text.splitlines()) <= 110


def test_inference_takes_other_measures_and_the_older_parameters():
    options = SchemaParameters(
        numeric_thresholds={"psi": 0.25}, categorical_thresholds={"jensen_shannon_distance": 0.1}
    ).inference_options()
    schema = infer_schema(penguin_statistics(), options=options)
    assert schema.columns["body_mass_g"].drift == DistanceThreshold(psi=0.25)
    assert schema.columns["island"].skew == DistanceThreshold(jensen_shannon_distance=0.1)
    assert "skew/drift: PSI 0.25" in schema_to_yaml(schema)  # not the defaults: the comment says what they flag
    legacy = SchemaParameters(linf_threshold=0.2, jensen_shannon_threshold=0.1).inference_options()
    schema = infer_schema(penguin_statistics(), options=legacy)
    assert schema.columns["island"].drift == DistanceThreshold(linf=0.2, psi=0.1)
    assert schema.columns["body_mass_g"].drift == DistanceThreshold(wasserstein=0.1, std_change=0.1, jensen_shannon=0.1)
    with pytest.raises(ValueError, match="categorical_thresholds: wasserstein does not apply to categorical columns"):
        SchemaParameters(categorical_thresholds={"wasserstein": 0.1})


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "columns:\n  island:\n    type: string\n    domian: [Biscoe]\n",
            ["schema.yaml:4:5:", "unknown key 'domian' in columns.island", "did you mean 'domain'?", "allowed keys"],
        ),
        (
            "columns:\n  mass:\n    type: double\n    range: {min: ten, max: 5}\n",
            ["schema.yaml:4:18:", "columns.mass.range.min: expected a number, found 'ten'"],
        ),
        (
            "columns:\n  mass:\n    type: double\n    drift: {jensen_shannon: 3}\n",
            ["schema.yaml:4:29:", "columns.mass.drift.jensen_shannon", "less than or equal to 1"],
        ),
        (
            "columns:\n  mass:\n    type: double\n   range: {min: 1}\n",
            ["schema.yaml:4:", "invalid YAML", "fix the YAML"],
        ),
        ("columns:\n  island:\n\ttype: string\n", ["schema.yaml:3:", "tabs"]),
        (
            "columns:\n  mass:\n    presence: {min_fraction: 1}\n",
            ["schema.yaml:2:3:", "the required key 'type' is missing", "type: double"],
        ),
        ("", ["schema.yaml:1:1:", "found an empty file"]),
        ("columns:\n  mass:\n    type: double\n    range: {min: 9, max: 1}\n", ["schema.yaml:4:18:", "swap them"]),
        ("version: 7\ncolumns: {}\n", ["schema.yaml:1:10:", "version 7 is not supported", "version: 1"]),
        (
            "columns:\n  island:\n    type: string\n    drift: {wasserstein: 0.1}\n",
            [
                "schema.yaml:4:13:",
                "columns.island.drift.wasserstein: Wasserstein distance does not apply to a categorical column "
                "(string); use linf, psi, jensen_shannon_distance, jensen_shannon",
            ],
        ),
        (
            "columns:\n  mass:\n    type: double\n    skew: {wasserstien: 0.1}\n",
            ["schema.yaml:4:12:", "unknown key 'wasserstien' in columns.mass.skew", "did you mean 'wasserstein'?"],
        ),
    ],
)
def test_broken_curated_schema_names_file_place_and_fix(text, expected):
    with pytest.raises(SchemaFileError) as caught:
        parse_schema(text, "schema.yaml")
    for fragment in expected:
        assert fragment in str(caught.value)


def test_several_problems_are_reported_together(tmp_path):
    path = tmp_path / "schema.yaml"
    path.write_text("columns:\n  a:\n    type: 3\n    colour: red\n  b:\n    type: string\n    domain: x\n")
    with pytest.raises(SchemaFileError) as caught:
        read_schema_file(str(path))
    message = str(caught.value)
    assert message.endswith(f"3 errors in {path}")
    assert f"{path}:3:11: error: columns.a.type: expected a string" in message
    assert f"{path}:4:5: error: unknown key 'colour'" in message
    assert f"{path}:7:13: error: columns.b.domain: expected a list" in message
    assert [(p.line, p.column) for p in caught.value.problems] == [(3, 11), (4, 5), (7, 13)]
    with pytest.raises(SchemaFileError, match="no such schema file"):
        read_schema_file(str(tmp_path / "nope.yaml"))


# -- the component -------------------------------------------------------------------------


def write_statistics(directory: Path, stats: DatasetStatistics) -> Statistics:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "statistics.json").write_text(stats.model_dump_json(indent=2))
    return Statistics(uri=str(directory))


def run_schema(tmp_path: Path, statistics: Statistics | None, **params) -> Schema:
    ctx = Context(
        component="schema",
        inputs={"statistics": statistics},
        outputs={"schema": Schema(uri=str(tmp_path / "out"))},
        params=SchemaParameters(**params),
        log=logging.getLogger("test.schema"),
        base_dir=str(tmp_path),
    )
    SchemaComponent().run(ctx)
    return ctx.outputs["schema"]


def test_component_infers_writes_schema_yaml_and_properties(tmp_path):
    stats = write_statistics(tmp_path / "stats", penguin_statistics("eval", "train"))
    schema = run_schema(tmp_path, stats)
    assert schema.properties == {"columns": 6, "source": "inferred"}
    text = (tmp_path / "out" / "schema.yaml").read_text()
    assert "from the train split" in text
    assert "# train: 266 of 275 values present" in text
    assert read_schema_file(str(tmp_path / "out" / "schema.yaml")) == infer_schema(penguin_statistics())


def test_component_publishes_a_curated_schema_as_written(tmp_path):
    stats = write_statistics(tmp_path / "stats", penguin_statistics())
    inferred = run_schema(tmp_path, stats)
    curated = (Path(inferred.uri) / "schema.yaml").read_text().replace("- Torgersen", "- Torgersen\n    - Atlantis")
    curated = curated.replace("Torgersen]", "Torgersen, Atlantis]") + "# reviewed by the data team\n"
    (tmp_path / "schemas").mkdir()
    (tmp_path / "schemas" / "penguins.yaml").write_text(curated)
    (tmp_path / "out2").mkdir()
    schema = run_schema(tmp_path / "out2", None, path="../schemas/penguins.yaml")
    assert schema.properties == {"columns": 6, "source": "../schemas/penguins.yaml"}
    published = (Path(schema.uri) / "schema.yaml").read_text()
    assert published == curated  # comments survive
    assert read_schema_file(str(Path(schema.uri) / "schema.yaml")).columns["island"].domain[-1] == "Atlantis"


def test_component_errors_are_clear(tmp_path):
    (tmp_path / "schema.yaml").write_text("columns:\n  a: {type: double, rnage: {min: 0}}\n")
    with pytest.raises(SchemaFileError, match=r"schema\.yaml:2:21: error: unknown key 'rnage' .*did you mean 'range'"):
        run_schema(tmp_path, None, path="schema.yaml")
    with pytest.raises(ValueError, match=r"wire a statistics input .* or set params.path"):
        run_schema(tmp_path, None)
    with pytest.raises(ValueError, match="split 'test' is not in the statistics"):
        run_schema(tmp_path, write_statistics(tmp_path / "stats", penguin_statistics()), split="test")
