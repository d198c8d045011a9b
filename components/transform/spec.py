"""The ``transform`` component's parameters: a list of ops over selected columns, or a user ``preprocessing_fn``.

Each op is a one-key mapping, the op's name over its arguments::

    ops:
      - fill_missing: {select: {type: numeric}, strategy: mean}
      - scale_to_z_score: {select: {type: numeric, exclude: ["${params.label}"]}}
      - compute_and_apply_vocabulary: {select: {type: categorical}, top_k: 100}

so op names and argument names are plain keys of pydantic models: the loader
checks them like every other key (line:column, did-you-mean) and the JSON
Schema comes from the same models. Nothing heavy is imported here.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from headrace.components.contract import CodePath, Parameters

SelectType = Literal["any", "numeric", "integer", "floating", "categorical", "string", "boolean", "image"]


class Select(BaseModel):
    """Columns chosen by what they are, so one transform fits any table."""

    model_config = ConfigDict(extra="forbid")

    type: SelectType = Field(
        "any",
        description="numeric (integers and floats), integer, floating, categorical (strings, booleans, and any "
        "column the Schema artifact gives a domain), string, boolean, image (columns of encoded images, which "
        "no other type selects), or any.",
    )
    pattern: str | None = Field(None, description="A regular expression a column name must contain (re.search).")
    exclude: list[str] = Field(default_factory=list, description="Column names never selected (the label, ids).")


class ColumnsOp(BaseModel):
    """An op over columns chosen by name (``columns``) or by selector (``select``), exactly one of them."""

    model_config = ConfigDict(extra="forbid")

    columns: list[str] | None = Field(None, description="Column names, in the order the op handles them.")
    select: Select | None = Field(None, description="A selector: columns chosen by type and name pattern.")

    @model_validator(mode="after")
    def _one_way_to_choose(self) -> ColumnsOp:
        if (self.columns is None) == (self.select is None):
            raise ValueError("give exactly one of 'columns' (a list of names) or 'select' (a selector)")
        return self


class InPlaceOp(ColumnsOp):
    suffix: str | None = Field(
        None, description="Write the result to '<column><suffix>' and keep the column; by default it is replaced."
    )


class ScaleToZScore(InPlaceOp):
    """(x - mean) / standard deviation over the analyzed split; a constant column becomes x - mean. Over an image
    column: per channel, with the mean and variance of the split's decoded pixels."""


class ScaleTo01(InPlaceOp):
    """(x - min) / (max - min) over the analyzed split; a constant column becomes 0. Over an image column: x / 255."""


class Bucketize(InPlaceOp):
    """The quantile bucket of x (0 .. num_buckets-1), boundaries from the analyzed split."""

    num_buckets: int = Field(..., ge=2, le=10_000, description="Number of buckets of about equal population.")


class Vocabulary(InPlaceOp):
    """Computes and freezes the vocabulary of a column (in the TransformGraph and report) without changing it."""

    top_k: int | None = Field(None, ge=1, description="Keep the k most frequent values (ties by value).")
    frequency_threshold: int = Field(0, ge=0, description="Drop values seen fewer times than this.")


class ComputeAndApplyVocabulary(Vocabulary):
    """Replaces each value by its index in the vocabulary (most frequent first); unseen values go to OOV buckets."""

    num_oov_buckets: int = Field(
        1,
        ge=0,
        description="Buckets for values outside the vocabulary (index len(vocabulary) + hash % n); "
        "0 maps them to default_value.",
    )
    default_value: int = Field(-1, description="Index of values outside the vocabulary when num_oov_buckets is 0.")


class FillMissing(InPlaceOp):
    """Replaces nulls (and NaN) by a value computed on the analyzed split, or a constant."""

    strategy: Literal["mean", "median", "mode", "constant"] = Field(
        ..., description="mean or median (numeric columns), mode (most frequent value), or constant (value)."
    )
    value: str | float | int | bool | None = Field(None, description="The constant for strategy: constant.")

    @model_validator(mode="after")
    def _constant_has_value(self) -> FillMissing:
        if self.strategy == "constant" and self.value is None:
            raise ValueError("strategy 'constant' needs a 'value'")
        if self.strategy != "constant" and self.value is not None:
            raise ValueError(f"'value' is only used with strategy 'constant', not {self.strategy!r}")
        return self


class Log1p(InPlaceOp):
    """ln(1 + x), as double."""


class Clip(InPlaceOp):
    """Limits values to [min, max] (either may be left open)."""

    min: float | None = Field(None, description="Smallest value kept; smaller values become it.")
    max: float | None = Field(None, description="Largest value kept; larger values become it.")


class HashBucket(InPlaceOp):
    """A stable hash of the value's text modulo num_buckets (the same on every machine and run)."""

    num_buckets: int = Field(..., ge=1, description="Number of hash buckets.")


class OneHot(ColumnsOp):
    """Replaces a categorical column by one 0/1 column per vocabulary value ('<column>_<value>'), plus '<column>_OOV'."""

    top_k: int | None = Field(None, ge=1, description="Keep the k most frequent values.")
    frequency_threshold: int = Field(0, ge=0, description="Drop values seen fewer times than this.")
    oov_column: bool = Field(True, description="Add '<column>_OOV', 1 for values outside the vocabulary.")


class Cross(BaseModel):
    """A new column from two or more columns' values joined ('a|b'), or hashed into num_buckets."""

    model_config = ConfigDict(extra="forbid")

    columns: list[str] = Field(..., min_length=2, description="The columns to cross, in order.")
    output: str | None = Field(None, description="Name of the new column (default: the names joined by '_x_').")
    num_buckets: int | None = Field(None, ge=1, description="Hash the crossed value into this many buckets.")


class DecodeImage(ColumnsOp):
    """Decodes an image column's bytes to pixels (in TensorFlow, in the tf.data pipeline and the served model)."""

    channels: Literal[1, 3, 4, "auto"] = Field(
        "auto", description="1 (gray), 3 (RGB), 4 (RGBA), or auto: the count most images of the analyzed split have."
    )


class Resize(ColumnsOp):
    """Resizes decoded images (Keras Resizing); without height and width, to the split's most common shape."""

    height: int | None = Field(None, ge=1, le=16384, description="Height in pixels (default: the most common).")
    width: int | None = Field(None, ge=1, le=16384, description="Width in pixels (default: the most common).")
    interpolation: Literal[
        "bilinear", "nearest", "bicubic", "area", "lanczos3", "lanczos5", "gaussian", "mitchellcubic"
    ] = Field("bilinear", description="How pixels are interpolated (tf.image.resize's methods).")


class Drop(ColumnsOp):
    """Removes columns."""


class Rename(BaseModel):
    """Renames columns: ``{old: new}``."""

    model_config = ConfigDict(extra="forbid")

    columns: dict[str, str] = Field(..., min_length=1, description="Old name -> new name.")


OP_MODELS: dict[str, type[BaseModel]] = {
    "scale_to_z_score": ScaleToZScore,
    "scale_to_0_1": ScaleTo01,
    "bucketize": Bucketize,
    "vocabulary": Vocabulary,
    "compute_and_apply_vocabulary": ComputeAndApplyVocabulary,
    "fill_missing": FillMissing,
    "log1p": Log1p,
    "clip": Clip,
    "hash_bucket": HashBucket,
    "one_hot": OneHot,
    "decode_image": DecodeImage,
    "resize": Resize,
    "cross": Cross,
    "drop": Drop,
    "rename": Rename,
}


class OpEntry(BaseModel):
    """One op: a mapping with exactly one key, the op's name, over its arguments."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"minProperties": 1, "maxProperties": 1})

    scale_to_z_score: ScaleToZScore | None = None
    scale_to_0_1: ScaleTo01 | None = None
    bucketize: Bucketize | None = None
    vocabulary: Vocabulary | None = None
    compute_and_apply_vocabulary: ComputeAndApplyVocabulary | None = None
    fill_missing: FillMissing | None = None
    log1p: Log1p | None = None
    clip: Clip | None = None
    hash_bucket: HashBucket | None = None
    one_hot: OneHot | None = None
    decode_image: DecodeImage | None = None
    resize: Resize | None = None
    cross: Cross | None = None
    drop: Drop | None = None
    rename: Rename | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> OpEntry:
        given = [name for name in OP_MODELS if getattr(self, name) is not None]
        if len(given) != 1:
            found = f"found {', '.join(given)}" if given else "found none"
            raise ValueError(
                f"an op is a mapping with exactly one op name as its key ({found}); ops: {', '.join(OP_MODELS)}"
            )
        return self

    @property
    def name(self) -> str:
        return next(name for name in OP_MODELS if getattr(self, name) is not None)

    @property
    def args(self) -> Any:
        return getattr(self, self.name)


class TransformParameters(Parameters):
    """What to transform and where to compute it."""

    ops: list[OpEntry] = Field(
        default_factory=list,
        description="Ops applied in order; columns an op does not touch pass through unchanged.",
    )
    module: CodePath | None = Field(
        None,
        description="A Python file (relative to the pipeline file) defining preprocessing_fn(inputs, tx), "
        "applied after the ops to their output.",
    )
    preprocessing_fn: str = Field("preprocessing_fn", description="Name of the function in module.")
    analyze_split: str = Field("train", description="The split analyzers run over; every split is transformed.")
    engine: Literal["auto", "beam", "in_process"] = Field(
        "auto",
        description="Where analyzers and the transform pass run: 'beam' (the pipeline's runner), 'in_process' "
        "(the same CombineFns called directly), or 'auto': in_process when the data has at most "
        "in_process_max_rows rows and the runner is the local DirectRunner, else beam.",
    )
    in_process_max_rows: int = Field(2_000_000, ge=0, description="Largest total row count 'auto' keeps in-process.")
    batch_size: int = Field(65_536, ge=1, description="Rows per Arrow RecordBatch; memory grows with it.")
    quantile_sketch_size: int = Field(
        4096,
        ge=8,
        description="Values kept per level of the quantile sketch behind bucketize, median and tx.quantiles; "
        "boundaries are exact while a column has fewer than 2x this many values in one batch and in total.",
    )
    vocabulary_cap: int = Field(
        100_000, ge=10, description="Distinct values counted exactly per vocabulary; past it counts are approximate."
    )

    @model_validator(mode="after")
    def _something_to_do(self) -> TransformParameters:
        if not self.ops and self.module is None:
            raise ValueError("give 'ops' (a list of ops), 'module' (a file with preprocessing_fn), or both")
        return self
