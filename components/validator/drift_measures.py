"""The drift and skew measures, their default thresholds, and what chance alone reaches at a sample size.

A threshold that is right for a million rows is noise for a hundred: two
samples of 69 and 275 penguins from one population differ by a Wasserstein
distance of 0.17 standard deviations on average, two samples of a million by
0.002. So every measure is checked against the larger of

- the schema's threshold (how big a change matters), and
- ``noise``: the 99.9th percentile of the measure between two samples of
  these sizes from one population (how big a change chance makes), plus the
  quantile sketch's rank error where it applies,

and nothing is measured below ``MIN_VALUES`` values on either side (the check
says it has too little data rather than guess). The noise levels come from the
large-sample distribution of each measure under no drift:

- shares of a value: normal, variance ``p (1 - p) (1/n + 1/m)``; L-infinity
  takes the largest move over all values, so each value is tested at a
  Bonferroni-corrected level;
- PSI and Jensen-Shannon: ``sum (a - b)^2 / p`` is chi-square with ``bins - 1``
  degrees of freedom times ``1/n + 1/m``; PSI is that sum, the divergence is it
  over ``8 ln 2``;
- Wasserstein: ``sqrt(1/n + 1/m)`` times the integral of a Brownian bridge's
  absolute value through the quantile function; its tail is at most that of
  one normal with the integral of the bridge's standard deviation
  (``quantile_distances.noise_scale``), the case where one stretch of the
  distribution carries all of it (a long tail, a point mass), so the level is
  that normal's;
- the standard deviation's logarithm: normal, variance ``(kurtosis - 1) / 4n``.

Small samples of skewed columns have thinner large-sample tails than they
should, so the last two are widened by ``1 + SMALL_SAMPLE / sqrt(n)``.
Simulated on normal, uniform, exponential, lognormal, bimodal, zero-inflated,
whole-number and three-valued columns and on categories (2,000 pairs per
shape and size, with no threshold at all, so the noise level alone decides):
about 0.1% false alarms per measure and column (0.3% at most) from 69 values
up, up to 0.5% at 50 values for lognormal and zero-inflated columns; none at
100k and 1M values.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

from headrace.components.validator import quantile_distances as qd
from headrace.components.validator.distances import aligned_shares, jensen_shannon_divergence, psi
from headrace.components.validator.formats import ColumnStatistics, DistanceThreshold, MeasureValue

Family = Literal["numeric", "categorical", "image"]

MIN_VALUES = 50
"""Fewer non-null values than this on either side: the check says "too little data" instead of measuring."""
FALSE_ALARM = 0.001
"""The chance that a measure flags two samples of one population (per column and measure)."""
SMALL_SAMPLE = 3.0
"""Wasserstein and std_change noise levels are widened by ``1 + SMALL_SAMPLE / sqrt(n)`` (x1.4 at 50 values)."""
ASSUMED_KURTOSIS = 4.0
"""For statistics written before the kurtosis was kept: a little heavier-tailed than normal (3)."""


@dataclass(frozen=True)
class Measure:
    """A measure's schema key, its name in sentences, the columns it fits, its usual threshold and how to read one."""

    key: str
    name: str
    families: tuple[Family, ...]
    default: float
    reads: str
    """What a threshold ``{t}`` flags, for the comment above the thresholds in an inferred schema.yaml."""


MEASURES: dict[str, Measure] = {
    m.key: m
    for m in (
        Measure(
            "wasserstein",
            "Wasserstein distance",
            ("numeric", "image"),
            0.1,
            "a move of {t:g} sd (a 0.5 sd shift reads 0.5)",
        ),
        Measure(
            "std_change", "standard deviation change", ("numeric", "image"), 0.1, "a {percent:g}% change of spread"
        ),
        Measure(
            "linf",
            "L-infinity distance",
            ("categorical",),
            0.05,
            "a share moving {percent:g} points (a new value at 5% of rows moves 5)",
        ),
        Measure(
            "psi",
            "PSI",
            ("numeric", "categorical", "image"),
            0.1,
            "PSI {t:g} (0.25 = significant; a new value at 5% of rows reads 0.2+)",
        ),
        Measure(
            "jensen_shannon_distance",
            "Jensen-Shannon distance",
            ("numeric", "categorical", "image"),
            0.1,
            "Jensen-Shannon distance {t:g}",
        ),
        Measure(
            "jensen_shannon",
            "Jensen-Shannon divergence",
            ("numeric", "categorical", "image"),
            0.1,
            "Jensen-Shannon divergence {t:g}",
        ),
    )
}

DEFAULT_THRESHOLDS: dict[Family, DistanceThreshold] = {
    # Wasserstein sees a shift (0.5 sd reads 0.5) and any change of shape; a change of spread moves it only by
    # |s - 1| times the mean absolute deviation (0.16 for 20%), which small samples cannot tell from noise, so the
    # spread is checked on its own too.
    "numeric": DistanceThreshold(wasserstein=0.1, std_change=0.1),
    # L-infinity reads "a value's share moved by N points"; PSI weighs a move by how rare the value was, so it
    # catches a new value early (5% of rows reads 0.23 at 1k rows, 0.69 at 10M).
    "categorical": DistanceThreshold(linf=0.05, psi=0.1),
    # Images: the numeric measures on two per-image distributions, brightness (the mean colour value of an image)
    # and contrast (the standard deviation of its colour values); the worse of the two is reported. A darker
    # camera, another scanner or a new preprocessing step moves them; the class balance is the label column's.
    # PSI too, because image splits are small: at a few hundred images a side Wasserstein's noise level (a bound
    # for any shape) is about twice what chance reaches between two samples of per-image brightness, PSI's is close
    # to it. benchmarks/drift_quality.py --images: 300 generated 16x16 photos a side whose brightness has an sd of
    # 55 grey levels across images, +20 grey levels (0.36 sd) flagged 60-68% of the time with PSI, 10% without, a
    # 20% contrast change 100% (68-90% without); from 2,000 a side, and on the 8x8 digits (train 1,437 against eval
    # 360), +20 grey levels and a 20% contrast change 100% either way; no false alarm in 920 same-population pairs
    # (digits 80/20 cuts, photos 60, 300 and 2,000 a side).
    "image": DistanceThreshold(wasserstein=0.1, std_change=0.1, psi=0.1),
}
IMAGE_QUANTITIES = ("brightness", "contrast")
"""What an image column's measures compare: per-image distributions kept in ``ImageStatistics``."""

_NUMERIC_TYPE = re.compile(r"^(u?int(8|16|32|64)|half_float|halffloat|float(16|32|64)?|double|decimal.*)$")
_CATEGORICAL_TYPE = re.compile(r"^(bool|boolean|(large_)?(string|utf8|binary)|string_view|binary_view)$")


_WHY_DEFAULTS: dict[Family, str] = {
    "numeric": "wasserstein sees a shift (0.5 sd reads 0.5) and any change of shape; std_change a change of "
    "spread, which Wasserstein sees only on many rows (20% reads 0.16)",
    "categorical": "linf sees a value's share move (10 points read 0.1); psi weighs a move by how rare the value "
    "was, so it catches a new value early (at 5% of rows it reads 0.2 or more)",
    "image": "measured on each image's brightness (mean colour value) and contrast (their standard deviation): "
    "wasserstein sees a shift (0.5 sd reads 0.5), std_change a change of their spread, psi a shift in a few hundred "
    "images",
}


def threshold_comment(thresholds: DistanceThreshold, family: Family | None = None) -> str:
    """One line saying why a column has its measures (the defaults) or what its thresholds flag (others)."""
    if family is not None and thresholds == DEFAULT_THRESHOLDS[family]:
        return _WHY_DEFAULTS[family]
    for known, defaults in DEFAULT_THRESHOLDS.items():
        if thresholds == defaults:
            return _WHY_DEFAULTS[known]
    flags = [
        MEASURES[key].reads.format(t=value, percent=round(value * 100, 2)) for key, value in asked(thresholds).items()
    ]
    if not flags:
        return ""
    return f"skew/drift: {' or '.join(flags)} is drift, once beyond what chance reaches at the sample sizes"


def family_of_type(arrow_type: str) -> Family | None:
    """What a schema ``type`` compares as; None for types no measure fits (timestamps, lists, ...)."""
    match = re.fullmatch(r"dictionary<values=([^,]+),.*", arrow_type)
    t = match.group(1) if match else arrow_type
    if _NUMERIC_TYPE.match(t):
        return "numeric"
    if _CATEGORICAL_TYPE.match(t):
        return "categorical"
    return None


def family_of(column: ColumnStatistics) -> Family | None:
    if column.kind == "numeric":
        return "numeric"
    if column.kind in ("string", "boolean"):
        return "categorical"
    if column.kind == "image":
        return "image"
    return None


def image_view(column: ColumnStatistics, quantity: str) -> ColumnStatistics | None:
    """An image column's per-image ``brightness`` or ``contrast`` as a numeric column the measures compare."""
    images = column.image
    numeric = getattr(images, quantity, None) if images is not None else None
    if images is None or numeric is None:
        return None
    return ColumnStatistics(
        name=f"{column.name} {quantity}",
        type="double",
        kind="numeric",
        count=images.decoded,
        missing=0,
        numeric=numeric,
    )


def asked(thresholds: DistanceThreshold) -> dict[str, float]:
    """The measures a schema entry asks for, in the order of ``MEASURES``."""
    return {key: value for key, value in thresholds.model_dump().items() if value is not None}


def values_of(column: ColumnStatistics) -> int:
    """The values a measure compares: non-null, and for numbers not NaN."""
    if column.image is not None:
        return column.image.decoded
    nan = column.numeric.nan if column.numeric is not None else 0
    return max(column.count - nan, 0)


def too_little_data(old: ColumnStatistics, new: ColumnStatistics) -> bool:
    return min(values_of(old), values_of(new)) < MIN_VALUES


def measure_all(old: ColumnStatistics, new: ColumnStatistics, thresholds: DistanceThreshold) -> list[MeasureValue]:
    """Every measure ``thresholds`` asks for that fits the columns, old (the reference) against new."""
    family = family_of(old)
    if family is None or family != family_of(new):
        return []
    found = []
    for key, threshold in asked(thresholds).items():
        if family not in MEASURES[key].families:
            continue
        result = measure(key, old, new, threshold)
        if result is not None:
            found.append(result)
    return found


def measure(key: str, old: ColumnStatistics, new: ColumnStatistics, threshold: float) -> MeasureValue | None:
    """One measure of new against old with its noise level at these sizes; None if the statistics cannot give it."""
    n, m = values_of(old), values_of(new)
    family = family_of(old)
    if n <= 0 or m <= 0 or family is None or family not in MEASURES[key].families:
        return None
    if key == "linf":
        return _linf(old, new, threshold)
    if family == "image":
        return _image(key, old, new, threshold)
    if family == "numeric":
        value_noise = _numeric(key, old, new, n, m)
    else:
        value_noise = _categorical(key, old, new, n, m)
    if value_noise is None:
        return None
    value, noise = value_noise
    return MeasureValue(
        measure=key, value=value, threshold=threshold, noise=noise, exceeded=value > max(threshold, noise)
    )


def _image(key: str, old: ColumnStatistics, new: ColumnStatistics, threshold: float) -> MeasureValue | None:
    """The measure on brightness and on contrast; the one furthest beyond what it needs, named in ``at``."""
    found = []
    for quantity in IMAGE_QUANTITIES:
        a, b = image_view(old, quantity), image_view(new, quantity)
        result = measure(key, a, b, threshold) if a is not None and b is not None else None
        if result is not None:
            found.append(result.model_copy(update={"at": quantity}))
    return max(found, key=lambda m: m.value / m.applied if m.applied > 0 else m.value, default=None)


# -- noise levels ------------------------------------------------------------------


def _z(tests: int = 1) -> float:
    """Two-sided normal quantile for ``FALSE_ALARM`` shared by ``tests`` tests (Bonferroni)."""
    return normal_quantile(1 - FALSE_ALARM / (2 * max(tests, 1)))


@lru_cache(maxsize=256)
def normal_quantile(probability: float) -> float:
    """The standard normal quantile, by bisection on ``math.erf`` (not ``statistics.NormalDist``: a project's own
    ``statistics.py`` on the path would shadow it)."""
    lo, hi = -40.0, 40.0
    for _ in range(100):
        mid = (lo + hi) / 2
        if 0.5 * (1 + math.erf(mid / math.sqrt(2))) < probability:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def _small_sample(n: int, m: int) -> float:
    """Widening for a skewed column's small sample, where the large-sample normal tail is too thin (1/sqrt(n))."""
    return 1.0 + SMALL_SAMPLE / math.sqrt(min(n, m))


def chi2_quantile(dof: int, probability: float = 1 - FALSE_ALARM) -> float:
    """Chi-square quantile by the Wilson-Hilferty approximation: at 0.999, up to 4% high below 9 degrees of
    freedom (on the side of no false alarm), within 1% from there."""
    if dof <= 0:
        return 0.0
    z = normal_quantile(probability)
    c = 2.0 / (9.0 * dof)
    return dof * max(1.0 - c + z * math.sqrt(c), 0.0) ** 3


def _chi2_noise(buckets: int, n: int, m: int) -> float:
    """The 99.9th percentile of ``sum (a - b)^2 / p`` over ``buckets`` buckets of two samples of one population."""
    return chi2_quantile(buckets - 1) * (1 / n + 1 / m)


# -- numeric -----------------------------------------------------------------------


def _reference_scale(old: ColumnStatistics, new: ColumnStatistics) -> float:
    """The old side's standard deviation; for a constant old side the new one's, then its mean's size, then 1."""
    for candidate in (old.numeric and old.numeric.std_dev, new.numeric and new.numeric.std_dev):
        if candidate:
            return float(candidate)
    mean = old.numeric.mean if old.numeric else None
    return abs(mean) if mean else 1.0


def _sketch_error(old: ColumnStatistics, new: ColumnStatistics) -> float:
    return sum((c.numeric.quantile_error or 0.0) if c.numeric else 0.0 for c in (old, new))


def _numeric(key: str, old: ColumnStatistics, new: ColumnStatistics, n: int, m: int) -> tuple[float, float] | None:
    qa, qb = qd.quantile_function(old.numeric), qd.quantile_function(new.numeric)
    error = _sketch_error(old, new)
    if key == "wasserstein":
        if qa is None or qb is None:
            return None
        scale = _reference_scale(old, new)
        spread = _z() * _small_sample(n, m) * qd.noise_scale(qa) * math.sqrt(1 / n + 1 / m)
        noise = (spread + error * qd.inner_span(qa)) / scale
        return qd.wasserstein(qa, qb) / scale, noise
    if key == "std_change":
        return _std_change(old, new, n, m)
    if key == "psi":
        if qa is None or qb is None:
            return None
        edges = qd.decile_edges(qa)
        a, b = qd.bin_shares(qa, edges), qd.bin_shares(qb, edges)
        error += sum(qd.TIE_ERROR for q in (qa, qb) if qd.has_ties(q))
        return psi(a, b, n, m), _chi2_noise(len(a), n, m) + 4 * (len(a) * error) ** 2
    if qa is None or qb is None:
        return None
    edges = qd.equal_width_edges(qa, qb)
    a, b = qd.bin_shares(qa, edges), qd.bin_shares(qb, edges)
    divergence = jensen_shannon_divergence(a, b)
    if divergence is None:
        return None
    # beyond the 1st and 99th percentile the CDF is a straight line to the extreme: known to about half a percent
    error += sum(qd.TIE_ERROR * (2 if qd.has_ties(q) else 1) for q in (qa, qb))
    buckets = sum(1 for x, y in zip(a, b, strict=True) if x > 0 or y > 0)
    return _divergence_or_distance(key, divergence, buckets, n, m, error)


def _std_change(old: ColumnStatistics, new: ColumnStatistics, n: int, m: int) -> tuple[float, float] | None:
    a, b = old.numeric, new.numeric
    if a is None or b is None or not a.std_dev or not b.std_dev:
        return None
    ratio = b.std_dev / a.std_dev
    # the larger side's kurtosis for both: a small sample of a heavy-tailed column underestimates its own
    kurtosis = max((k if k is not None else ASSUMED_KURTOSIS) for k in (a.kurtosis, b.kurtosis))
    variance = max(kurtosis - 1.0, 0.0) / 4 * (1 / n + 1 / m)
    return max(ratio, 1 / ratio) - 1.0, math.expm1(_z() * _small_sample(n, m) * math.sqrt(variance))


def _divergence_or_distance(
    key: str, divergence: float, buckets: int, n: int, m: int, error: float = 0.0
) -> tuple[float, float]:
    noise = (_chi2_noise(buckets, n, m) + 4 * (buckets * error) ** 2) / (8 * math.log(2))
    if key == "jensen_shannon_distance":
        return math.sqrt(divergence), math.sqrt(noise)
    return divergence, noise


# -- categorical -------------------------------------------------------------------


def _categorical(key: str, old: ColumnStatistics, new: ColumnStatistics, n: int, m: int) -> tuple[float, float] | None:
    aligned = aligned_shares(old, new)
    if aligned is None:
        return None
    _, a, b = aligned
    buckets = sum(1 for x, y in zip(a, b, strict=True) if x > 0 or y > 0)
    if key == "psi":
        return psi(a, b, n, m), _chi2_noise(buckets, n, m)
    divergence = jensen_shannon_divergence(a, b)
    if divergence is None:
        return None
    return _divergence_or_distance(key, divergence, buckets, n, m)


def _linf(old: ColumnStatistics, new: ColumnStatistics, threshold: float) -> MeasureValue | None:
    """The value whose share moved most beyond what it needs (the larger of the threshold and its noise)."""
    aligned = aligned_shares(old, new)
    if aligned is None:
        return None
    keys, a, b = aligned
    n, m = values_of(old), values_of(new)
    z = _z(sum(1 for x, y in zip(a, b, strict=True) if x > 0 or y > 0))
    best: tuple[float, float, float, str | None] = (0.0, 0.0, 0.0, None)  # ratio, move, noise, value
    for key, x, y in zip(keys, a, b, strict=True):
        pooled = (x * n + y * m) / (n + m)
        noise = z * math.sqrt(pooled * (1 - pooled) * (1 / n + 1 / m))
        ratio = abs(x - y) / max(threshold, noise) if max(threshold, noise) > 0 else 0.0
        if ratio > best[0]:
            best = (ratio, abs(x - y), noise, key)
    ratio, move, noise, value = best
    return MeasureValue(measure="linf", value=move, threshold=threshold, noise=noise, exceeded=ratio > 1, at=value)
