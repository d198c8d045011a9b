"""The files the validator family writes and reads, as pydantic models.

Statistics, schema and anomalies are documents a person may open, diff,
copy into a repository and edit, so their shape is fixed here once, versioned,
and validated on every read: a hand-edited schema with a typo gets a clear
error naming the place, not a KeyError three modules away.

- ``Statistics`` artifact: ``<uri>/statistics.json`` (``DatasetStatistics``) and
  ``<uri>/statistics.html``.
- ``Schema`` artifact: ``<uri>/schema.yaml`` (``DataSchema``), the file a user
  copies into the repo, curates and feeds back through ``schema: {path: ...}``,
  and ``<uri>/schema.json``, the same for the validator (no YAML parsing).
- ``Anomalies`` artifact: ``<uri>/anomalies.json`` (``AnomalyReport``) and
  ``<uri>/anomalies.html``.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from headrace.components.problems import ProblemError

FORMAT_VERSION = 1


class DataProblem(ProblemError):
    """Data (or a document) the validator family cannot use; the message names the place and the fix."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# -- statistics ---------------------------------------------------------------


class Histogram(_Strict):
    """Equal-width buckets between min and max; ``counts`` has one entry fewer than ``boundaries``."""

    boundaries: list[float]
    counts: list[float]


class NumericStatistics(_Strict):
    min: float | None = None
    max: float | None = None
    mean: float | None = None
    std_dev: float | None = None
    zeros: int = 0
    nan: int = 0
    histogram: Histogram | None = None
    quantiles: list[float] = Field(
        default_factory=list, description="Values at evenly spaced ranks 0, 1/q, ..., 1 (q+1 values)."
    )
    quantile_error: float | None = Field(
        None, description="Rank error bound of the quantiles, as a fraction of the count."
    )
    kurtosis: float | None = Field(
        None, description="Pearson kurtosis (3 for a normal distribution): how noisy the standard deviation is."
    )
    percentiles: list[float] = Field(
        default_factory=list,
        description="Values at ranks 0, 0.01, ..., 1 (101 values): the distribution drift and skew measures compare.",
    )


class ValueCount(_Strict):
    value: str
    count: int


class StringStatistics(_Strict):
    distinct: int = 0
    distinct_is_exact: bool = True
    top_values: list[ValueCount] = Field(default_factory=list)
    avg_length: float | None = None
    invalid_utf8: int = 0


class ShapeCount(_Strict):
    height: int
    width: int
    count: int

    @property
    def text(self) -> str:
        """``28x28``: how a shape is written in the schema and in messages (height x width)."""
        return f"{self.height}x{self.width}"


class ChannelCount(_Strict):
    channels: int
    count: int


class ChannelMoments(_Strict):
    """Exact moments of one channel's values over every decoded pixel of a split (from integer sums)."""

    channel: str = Field(description="gray, red, green, blue, alpha (or c0, c1, ... for other tensor depths).")
    values: int
    mean: float
    std_dev: float


class ImageSample(_Strict):
    """One thumbnail kept for the report: a deterministic pick (the smallest hashes of ``path``) per class."""

    label: str
    path: str
    width: int
    height: int
    media_type: Literal["image/png", "image/jpeg"] = Field(
        description="PNG for gray, transparent or small images (exact pixels); JPEG for larger colour ones (small)."
    )
    data: str = Field(description="The thumbnail, base64, at most 64 pixels a side.")


class ImageStatistics(_Strict):
    """What an image column holds, from every image decoded (undecodable ones are only counted)."""

    decoded: int = Field(0, description="Images decoded (count minus undecodable).")
    undecodable: int = 0
    undecodable_examples: list[str] = Field(
        default_factory=list, description="A few undecodable images: their path and why."
    )
    shapes: list[ShapeCount] = Field(default_factory=list, description="Decoded height x width, most frequent first.")
    distinct_shapes: int = 0
    shapes_are_exact: bool = True
    channels: list[ChannelCount] = Field(default_factory=list)
    pixel_mean: float | None = Field(None, description="Mean of every colour value (alpha left out), 0-255 for PNG.")
    pixel_std_dev: float | None = None
    channel_moments: list[ChannelMoments] = Field(default_factory=list)
    brightness: NumericStatistics | None = Field(
        None, description="Per image: the mean of its colour values; drift compares this distribution."
    )
    contrast: NumericStatistics | None = Field(
        None, description="Per image: the standard deviation of its colour values; drift compares it too."
    )
    size_bytes: NumericStatistics | None = Field(None, description="Encoded size per image (None for tensor columns).")
    samples: list[ImageSample] = Field(default_factory=list)


class ColumnStatistics(_Strict):
    name: str
    type: str = Field(description="Arrow type, e.g. double, int64, string.")
    kind: Literal["numeric", "string", "boolean", "image", "other"]
    count: int = Field(description="Non-null values.")
    missing: int = Field(description="Null values.")
    numeric: NumericStatistics | None = None
    string: StringStatistics | None = None
    image: ImageStatistics | None = None

    @property
    def missing_fraction(self) -> float:
        total = self.count + self.missing
        return self.missing / total if total else 0.0


class SplitStatistics(_Strict):
    name: str
    num_rows: int
    columns: dict[str, ColumnStatistics]


class DatasetStatistics(_Strict):
    version: int = FORMAT_VERSION
    splits: dict[str, SplitStatistics]


# -- schema -------------------------------------------------------------------


class Presence(_Strict):
    min_fraction: float = Field(
        1.0, ge=0.0, le=1.0, description="Least share of rows that must have a value; 1.0 = required."
    )


class ValueRange(_Strict):
    min: float | None = None
    max: float | None = None


class DistanceThreshold(_Strict):
    """Largest accepted value of each measure between two distributions of a column; every measure given is checked.

    Which measure fits which column and what its numbers mean: ``drift_measures.MEASURES``.
    """

    wasserstein: float | None = Field(
        None,
        ge=0.0,
        description="Numeric columns: Wasserstein distance in standard deviations of the reference "
        "(0.5 = the distribution moved by half a standard deviation).",
    )
    std_change: float | None = Field(
        None,
        ge=0.0,
        description="Numeric columns: relative change of the standard deviation, either way (0.1 = 10%).",
    )
    linf: float | None = Field(
        None,
        ge=0.0,
        le=1.0,
        description="Categorical columns: the most any one value's share may move (L-infinity, 0.1 = 10 points).",
    )
    psi: float | None = Field(
        None,
        ge=0.0,
        description="Population Stability Index over the reference's deciles (numeric) or the values (categorical); "
        "0.1 = moderate, 0.25 = significant shift.",
    )
    jensen_shannon_distance: float | None = Field(
        None, ge=0.0, le=1.0, description="Jensen-Shannon distance (base 2), the square root of the divergence."
    )
    jensen_shannon: float | None = Field(
        None, ge=0.0, le=1.0, description="Jensen-Shannon divergence (base 2) of histograms or value shares."
    )


class ImageConstraints(_Strict):
    """What an image column's images may look like; a key left out accepts anything."""

    shapes: list[str] | None = Field(
        None, description="Accepted decoded shapes as HEIGHTxWIDTH, e.g. [8x8] (one entry: a fixed shape)."
    )
    channels: list[int] | None = Field(None, description="Accepted channel counts: 1 gray, 3 RGB, 4 RGBA.")
    max_undecodable_fraction: float = Field(
        0.0, ge=0.0, le=1.0, description="Largest share of images that may fail to decode; 0 = none."
    )


class ColumnSchema(_Strict):
    type: str
    presence: Presence = Field(default_factory=Presence)
    domain: list[str] | None = Field(None, description="Accepted values of a low-cardinality string column.")
    range: ValueRange | None = None
    image: ImageConstraints | None = Field(None, description="An image column: accepted shapes and channels.")
    skew: DistanceThreshold | None = Field(None, description="Threshold between train and eval splits.")
    drift: DistanceThreshold | None = Field(None, description="Threshold between these statistics and the baseline.")


class DataSchema(_Strict):
    version: int = FORMAT_VERSION
    columns: dict[str, ColumnSchema]


# -- anomalies ----------------------------------------------------------------

AnomalyKind = Literal[
    "missing_column",
    "new_column",
    "type_change",
    "out_of_domain",
    "missing_fraction",
    "out_of_range",
    "skew",
    "drift",
    "empty_split",
    "image_shape",
    "image_channels",
    "undecodable_image",
]
Severity = Literal["error", "warning"]

DEFAULT_SEVERITY: dict[str, Severity] = {
    "missing_column": "error",
    "type_change": "error",
    "out_of_domain": "error",
    "out_of_range": "error",
    "missing_fraction": "error",
    "empty_split": "error",
    "image_shape": "error",
    "image_channels": "error",
    "undecodable_image": "error",
    "new_column": "warning",
    "skew": "warning",
    "drift": "warning",
}


class MeasureValue(_Strict):
    """One measure between two distributions of a column, against its threshold."""

    measure: str = Field(description="The key in the schema: wasserstein, std_change, psi, linf, ...")
    value: float
    threshold: float = Field(description="The schema's threshold.")
    noise: float = Field(
        0.0,
        description="What chance alone reaches at these sample sizes (99.9th percentile); the check uses the larger.",
    )
    exceeded: bool
    at: str | None = Field(
        None, description="linf: the value whose share moved; image columns: brightness or contrast."
    )

    @property
    def applied(self) -> float:
        """The threshold the value was compared with."""
        return max(self.threshold, self.noise)


class Comparison(_Strict):
    """The two distributions a skew or drift anomaly compared, and every measure the schema asked for."""

    old_split: str
    new_split: str
    old_is_baseline: bool = Field(description="Drift: the old side is the baseline's split; skew: both are splits.")
    old_count: int
    new_count: int
    measures: list[MeasureValue]


class NotChecked(_Strict):
    """A skew or drift check that was not made, and why (too little data)."""

    column: str
    kind: Literal["skew", "drift"]
    split: str
    reason: str


class Anomaly(_Strict):
    column: str
    split: str | None = None
    kind: AnomalyKind
    severity: Severity
    expected: str
    found: str
    explanation: str = Field(description="One sentence: what was compared, the value, the threshold.")
    fix: str = Field(description="How to accept this into the schema, or what to fix in the data.")
    examples: list[ValueCount] = Field(default_factory=list, description="A few offending values with counts.")
    comparison: Comparison | None = Field(None, description="Skew and drift: what was compared, every measure.")

    @classmethod
    def of(
        cls,
        kind: AnomalyKind,
        column: str,
        split: str | None,
        expected: str,
        found: str,
        explanation: str,
        fix: str,
        **more: Any,
    ) -> Anomaly:
        """An anomaly at its kind's default severity (``DEFAULT_SEVERITY``)."""
        return cls(
            column=column,
            split=split,
            kind=kind,
            severity=DEFAULT_SEVERITY[kind],
            expected=expected,
            found=found,
            explanation=explanation,
            fix=fix,
            **more,
        )


class AnomalyReport(_Strict):
    version: int = FORMAT_VERSION
    anomalies: list[Anomaly]
    compared: dict[str, str] = Field(
        default_factory=dict, description="What was checked against what, for the report header."
    )
    not_checked: list[NotChecked] = Field(
        default_factory=list, description="Skew and drift checks not made, e.g. too little data."
    )

    @property
    def errors(self) -> list[Anomaly]:
        return [a for a in self.anomalies if a.severity == "error"]
