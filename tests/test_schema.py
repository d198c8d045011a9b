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
    step = (high - low) / len(counts)
    edges = [low + i * step for i in range(len(counts))] + [high]
    return ColumnStatistics(
        name=name,
        type=type,
        kind="numeric",
        count=int(sum(counts)),
        missing=missing,
        numeric=NumericStatistics(
            min=low,
            max=high,
            mean=mean if mean is not None else (low + high) / 2,
            histogram=Histogram(boundaries=edges, counts=counts),
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
    assert cols["island"].drift.linf == 0.1 and cols["island"].skew.linf == 0.1
    assert cols["island"].drift.jensen_shannon is None
    assert cols["body_mass_g"].drift.jensen_shannon == 0.1 and cols["body_mass_g"].drift.linf is None


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
