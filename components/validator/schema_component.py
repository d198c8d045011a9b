"""The ``schema`` component: infer a schema from statistics, or publish a curated one.

Exactly TFX's SchemaGen -> copy -> ImportSchemaGen loop in one component:
without ``path`` it infers ``<uri>/schema.yaml`` from the statistics; a person
copies that file into the repository, edits it, and sets ``path`` to it, and
from then on the component validates and publishes the curated file as is
(comments kept), so every run is checked against a reviewed contract.
"""

from __future__ import annotations

from pydantic import Field, model_validator

from headrace.components.artifacts import Schema, Statistics
from headrace.components.contract import Component, Context, DataPath, Input, Parameters
from headrace.components.files import read_text, write_text
from headrace.components.validator.drift_measures import DEFAULT_THRESHOLDS, MEASURES, asked
from headrace.components.validator.formats import (
    ColumnStatistics,
    DataProblem,
    DataSchema,
    DatasetStatistics,
    DistanceThreshold,
)
from headrace.components.validator.schema_file import (
    SCHEMA_FILE,
    SCHEMA_JSON,
    read_schema_file,
    read_statistics,
    write_schema_file,
)
from headrace.components.validator.schema_inference import (
    InferenceOptions,
    choose_split,
    infer_schema,
)


class SchemaParameters(Parameters):
    """Where the schema comes from, and how inference leaves room for new data."""

    path: DataPath | None = Field(
        None,
        description="A curated schema.yaml (relative to the pipeline file) to validate and publish instead of "
        "inferring one; start from the schema.yaml of an inferred Schema artifact.",
    )
    split: str | None = Field(None, description="Split to infer from; default train if present, else the first split.")
    max_domain_size: int = Field(
        50,
        ge=0,
        description="A string column with at most this many distinct values gets a domain (all values seen).",
    )
    range_margin: float = Field(
        0.1,
        ge=0.0,
        description="Widen the observed numeric min/max by this share of their span on each side.",
    )
    presence_slack: float = Field(
        0.02,
        ge=0.0,
        le=1.0,
        description="An optional column's min_fraction is its observed present share, rounded down, minus this.",
    )
    numeric_thresholds: DistanceThreshold = Field(
        default_factory=lambda: DEFAULT_THRESHOLDS["numeric"].model_copy(),
        description="Drift/skew measures and thresholds written for numeric columns "
        "(wasserstein, std_change, psi, jensen_shannon_distance, jensen_shannon).",
    )
    categorical_thresholds: DistanceThreshold = Field(
        default_factory=lambda: DEFAULT_THRESHOLDS["categorical"].model_copy(),
        description="Drift/skew measures and thresholds written for string and boolean columns "
        "(linf, psi, jensen_shannon_distance, jensen_shannon).",
    )
    image_thresholds: DistanceThreshold = Field(
        default_factory=lambda: DEFAULT_THRESHOLDS["image"].model_copy(),
        description="Drift/skew measures and thresholds written for image columns, applied to each image's "
        "brightness and contrast (wasserstein, std_change, psi, jensen_shannon_distance, jensen_shannon).",
    )
    linf_threshold: float | None = Field(
        None,
        ge=0.0,
        le=1.0,
        description="Older spelling of categorical_thresholds.linf; when set, it replaces that threshold.",
    )
    jensen_shannon_threshold: float | None = Field(
        None,
        ge=0.0,
        le=1.0,
        description="Older parameter: when set, numeric columns are also checked with the Jensen-Shannon "
        "divergence at this threshold.",
    )

    @model_validator(mode="after")
    def _measures_fit_their_columns(self) -> SchemaParameters:
        for family, thresholds in (
            ("numeric", self.numeric_thresholds),
            ("categorical", self.categorical_thresholds),
            ("image", self.image_thresholds),
        ):
            misfits = [key for key in asked(thresholds) if family not in MEASURES[key].families]
            if misfits:
                fitting = [k for k, m in MEASURES.items() if family in m.families]
                raise ValueError(
                    f"{family}_thresholds: {', '.join(misfits)} does not apply to {family} columns; "
                    f"use {', '.join(fitting)}"
                )
        return self

    def inference_options(self) -> InferenceOptions:
        numeric = self.numeric_thresholds.model_copy()
        categorical = self.categorical_thresholds.model_copy()
        if self.linf_threshold is not None:
            categorical.linf = self.linf_threshold
        if self.jensen_shannon_threshold is not None:
            numeric.jensen_shannon = self.jensen_shannon_threshold
        return InferenceOptions(
            max_domain_size=self.max_domain_size,
            range_margin=self.range_margin,
            presence_slack=self.presence_slack,
            thresholds={"numeric": numeric, "categorical": categorical, "image": self.image_thresholds.model_copy()},
        )


class SchemaComponent(Component[SchemaParameters]):
    type = "schema"
    version = "3"  # 2: drift/skew measures wasserstein and std_change, linf and psi; 3: image columns
    description = (
        "Infer a schema (types, presence, domains, ranges, drift thresholds) or publish a curated schema.yaml."
    )
    inputs = {"statistics": Input(Statistics, optional=True, description="Statistics to infer the schema from.")}
    outputs = {"schema": Schema}
    Parameters = SchemaParameters

    @classmethod
    def known_columns(cls, params: SchemaParameters, base_dir: str) -> list[str] | None:
        """A curated schema file names the columns before anything runs; an inferred one does not."""
        if not params.path:
            return None
        from headrace.components.paths import resolve_path

        return list(read_schema_file(resolve_path(params.path, base_dir)).columns)

    def run(self, ctx: Context[SchemaParameters]) -> None:
        params = ctx.params
        output = ctx.outputs["schema"]
        statistics = ctx.optional_input("statistics", Statistics)
        if params.path:
            schema = publish_curated(ctx.resolve_path(params.path), output.path(SCHEMA_FILE))
            source = params.path
        elif statistics is None:
            raise DataProblem(
                f"component `{ctx.component}` has nothing to build a schema from: wire a statistics input "
                "(inputs: {statistics: <stats>.statistics}) to infer one, or set params.path to a curated schema.yaml"
            )
        else:
            stats = read_statistics(statistics.uri)
            split = choose_split(stats, params.split)
            schema = infer_schema(stats, split, params.inference_options())
            write_schema_file(
                output.path(SCHEMA_FILE),
                schema,
                # content only (the input's fingerprint, never its path or this node's name): the same statistics
                # give byte-identical schema files, so nothing downstream re-runs for nothing
                origin=f"Inferred by headrace's schema component from the {split} split of statistics "
                f"{statistics.fingerprint or 'of unknown fingerprint'}.",
                notes=_observations(stats, split),
            )
            source = "inferred"
        # the same schema for machines: the validator reads it without parsing YAML (seconds on wide tables)
        write_text(output.path(SCHEMA_JSON), schema.model_dump_json(indent=1))
        output.properties.update({"columns": len(schema.columns), "source": source})
        ctx.metrics.log("columns", len(schema.columns))
        ctx.log.info("schema with %d columns (%s) written to %s", len(schema.columns), source, output.uri)


def publish_curated(path: str, destination: str) -> DataSchema:
    """Validate the curated file and copy it byte for byte, so the user's comments survive."""
    schema = read_schema_file(path)
    write_text(destination, read_text(path))
    return schema


def _observations(stats: DatasetStatistics, split: str) -> dict[str, str]:
    """One comment line per column: what inference saw, so a curator knows what a number is based on."""
    return {name: _observed(split, column) for name, column in stats.splits[split].columns.items()}


def _observed(split: str, column: ColumnStatistics) -> str:
    total = column.count + column.missing
    facts = [f"{split}: {column.count} of {total} values present"]
    if column.numeric and column.numeric.min is not None and column.numeric.max is not None:
        facts.append(f"min {column.numeric.min:g}, max {column.numeric.max:g}")
        if column.numeric.mean is not None:
            facts.append(f"mean {column.numeric.mean:.4g}")
    if column.image and column.image.decoded:
        images = column.image
        shapes = ", ".join(f"{s.text} ({s.count})" for s in images.shapes[:3])
        more = f" and {images.distinct_shapes - 3} more" if images.distinct_shapes > 3 else ""
        facts.append(f"shapes {shapes}{more}")
        facts.append("channels " + ", ".join(f"{c.channels} ({c.count})" for c in images.channels))
        if images.undecodable:
            facts.append(f"{images.undecodable} undecodable")
    if column.string:
        facts.append(f"{column.string.distinct}{'' if column.string.distinct_is_exact else '~'} distinct values")
    return "; ".join(facts)
