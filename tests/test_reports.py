"""The statistics and anomalies pages: what they say, that they load nothing, and how they look in a browser."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from headrace.components.validator.formats import (
    Anomaly,
    AnomalyReport,
    ColumnStatistics,
    DatasetStatistics,
    Histogram,
    NumericStatistics,
    SplitStatistics,
    StringStatistics,
    ValueCount,
)
from headrace.components.validator.reports import render_anomalies_html, render_statistics_html
from tests.browser import chromium_path, render_page

needs_chromium = pytest.mark.skipif(
    chromium_path() is None, reason="Chromium is not installed (apt-get install chromium); CI installs it in .ci/run"
)


def numeric(
    name: str, count: int, missing: int, lo: float, hi: float, mean: float, std: float, shape: list[float]
) -> ColumnStatistics:
    step = (hi - lo) / len(shape)
    scale = count / sum(shape)
    counts = [round(s * scale) for s in shape]
    quantiles = [lo + (hi - lo) * q / 4 for q in range(5)]
    return ColumnStatistics(
        name=name,
        type="double",
        kind="numeric",
        count=count,
        missing=missing,
        numeric=NumericStatistics(
            min=lo,
            max=hi,
            mean=mean,
            std_dev=std,
            quantiles=quantiles,
            histogram=Histogram(boundaries=[lo + i * step for i in range(len(shape) + 1)], counts=counts),
        ),
    )


def strings(name: str, missing: int, values: dict[str, int], avg_length: float) -> ColumnStatistics:
    top = sorted(values.items(), key=lambda kv: -kv[1])
    return ColumnStatistics(
        name=name,
        type="string",
        kind="string",
        count=sum(values.values()),
        missing=missing,
        string=StringStatistics(
            distinct=len(values), top_values=[ValueCount(value=v, count=c) for v, c in top], avg_length=avg_length
        ),
    )


def penguins(drifted: bool = False) -> DatasetStatistics:
    """Train and eval statistics of the penguins data; ``drifted`` makes eval heavier and brings in a strange island."""
    bell = [1, 3, 7, 12, 16, 14, 10, 6, 3, 1]
    heavy = [0, 1, 2, 4, 7, 10, 14, 16, 12, 8]

    def split(name: str, rows: int, share: float, drift: bool) -> SplitStatistics:
        n = round(rows * share)
        atlantis = 7 if drift else 0
        islands = {"Biscoe": round(n * 0.49), "Dream": round(n * 0.36)}
        islands["Torgersen"] = n - sum(islands.values()) - atlantis
        if drift:
            islands["Atlantis"] = atlantis
        sex_missing = 41 if drift else 4
        species = {"Adelie": round(n * 0.44), "Gentoo": round(n * 0.36)}
        species["Chinstrap"] = n - sum(species.values())
        return SplitStatistics(
            name=name,
            num_rows=n,
            columns={
                "species": strings("species", 0, species, 6.3),
                "island": strings("island", 0, islands, 5.6),
                "bill_length_mm": numeric("bill_length_mm", n - 1, 1, 32.1, 59.6, 43.9, 5.46, bell),
                "bill_depth_mm": numeric("bill_depth_mm", n - 1, 1, 13.1, 21.5, 17.2, 1.97, bell[::-1]),
                "flipper_length_mm": numeric(
                    "flipper_length_mm", n - 1, 1, 172, 231, 200.9, 14.1, [2, 8, 14, 10, 5, 4, 9, 12, 8, 3]
                ),
                "body_mass_g": numeric(
                    "body_mass_g", n - 1, 1, 2700, 6300, 4900 if drift else 4201, 801.9, heavy if drift else bell
                ),
                "sex": strings(
                    "sex", sex_missing, {"female": round(n * 0.49), "male": n - round(n * 0.49) - sex_missing}, 5.0
                ),
            },
        )

    return DatasetStatistics(
        splits={"train": split("train", 344, 0.7, False), "eval": split("eval", 344, 0.3, drifted)}
    )


def anomaly_report() -> AnomalyReport:
    return AnomalyReport(
        compared={
            "statistics": "Statistics #12 (penguins 2024-06)",
            "schema": "schema.yaml",
            "baseline": "Statistics #9",
        },
        anomalies=[
            Anomaly(
                column="body_mass_g",
                split="eval",
                kind="drift",
                severity="warning",
                expected="Jensen-Shannon divergence <= 0.1",
                found="0.27",
                explanation="body_mass_g in eval drifted from the baseline: Jensen-Shannon divergence 0.27 is above the threshold 0.1.",
                fix="columns:\n  body_mass_g:\n    drift: {jensen_shannon: 0.3}",
            ),
            Anomaly(
                column="island",
                split="eval",
                kind="out_of_domain",
                severity="error",
                expected="one of Biscoe, Dream, Torgersen",
                found="1 unexpected value in 7 rows (6.8%)",
                explanation="island in eval has 7 values outside the schema's domain: 'Atlantis'.",
                fix="columns:\n  island:\n    domain: [Biscoe, Dream, Torgersen, Atlantis]",
                examples=[ValueCount(value="Atlantis", count=7)],
            ),
            Anomaly(
                column="sex",
                split="eval",
                kind="missing_fraction",
                severity="error",
                expected="present in at least 95% of rows",
                found="present in 60.2% of rows",
                explanation="sex in eval is missing in 41 of 103 rows (39.8%), more than the schema's 5% allowance.",
                fix="columns:\n  sex:\n    presence: {min_fraction: 0.6}",
            ),
        ],
    )


def assert_self_contained(page: str) -> None:
    assert page.startswith("<!doctype html>")
    assert "<meta charset=utf-8>" in page
    assert "http://" not in page and "https://" not in page, "a report must load nothing from the network"
    assert not re.search(r"<(script|link|img|iframe|object|embed)\b", page), (
        "a report needs no scripts or external resources"
    )
    assert "@import" not in page and "url(" not in page


def test_statistics_page_shows_every_column_of_every_split(tmp_path: Path) -> None:
    stats = penguins(drifted=True)
    page = render_statistics_html(stats, title="Penguin statistics")
    assert_self_contained(page)
    assert "<title>Penguin statistics</title>" in page
    for split in stats.splits.values():
        assert f"<b>{split.name}</b> {split.num_rows:,} rows" in page
    for name in stats.splits["train"].columns:
        assert f">{name}<" in page
    assert page.count("<svg") == 7, "one chart per column, splits overlaid"
    assert "Numeric columns (4)" in page and "Categorical columns (3)" in page
    assert page.index(">sex<") < page.index(">species<"), "columns with missing values come first"
    assert "missing up to 39.8%" in page
    assert "Atlantis" in page and "4,900" in page  # eval's new value in the bars, eval's mean in the table


def test_anomalies_page_lists_errors_first_with_fix_and_examples() -> None:
    page = render_anomalies_html(anomaly_report(), statistics=penguins(drifted=True), baseline=penguins())
    assert_self_contained(page)
    assert "2 errors and 1 warning" in page
    cards = re.findall(
        r'<section class="anomaly (\w+)" id="a\d+"><h3><span class="sev">\w+</span>([\w ]+) · <code>(\w+)</code>', page
    )
    assert cards == [
        ("error", "out of domain", "island"),
        ("error", "missing fraction", "sex"),
        ("warning", "drift", "body_mass_g"),
    ]
    assert "Jensen-Shannon divergence 0.27 is above the threshold 0.1." in page
    assert "island in eval has 7 values outside the schema&#x27;s domain: &#x27;Atlantis&#x27;." in page
    assert (
        '<pre class="fix"><code>columns:\n  island:\n    domain: [Biscoe, Dream, Torgersen, Atlantis]</code></pre>'
        in page
    )
    assert '<td><code>Atlantis</code></td><td class="n">7</td>' in page
    assert "Affected columns" in page
    assert "eval against its baseline" in page and "baseline · train" in page
    assert page.count('<div class="panel">') == 3


def test_no_anomalies_is_said_in_green() -> None:
    page = render_anomalies_html(AnomalyReport(anomalies=[], compared={"schema": "schema.yaml"}), statistics=penguins())
    assert_self_contained(page)
    assert '<div class="banner ok">✓ No anomalies' in page
    assert "anomaly error" not in page and "Affected columns" not in page


def test_data_is_escaped() -> None:
    evil = "<script>alert('x')</script> & \"quoted\" ünïcødé 列"
    stats = DatasetStatistics(
        splits={
            "train": SplitStatistics(
                name="train<1>",
                num_rows=3,
                columns={
                    evil: strings(evil, 0, {evil: 2, "<u>under": 1}, 3.0),
                    "x&y": numeric("x&y", 3, 0, 0, 1, 0.5, 0.1, [1, 2]),
                },
            )
        }
    )
    report = AnomalyReport(
        anomalies=[
            Anomaly(
                column=evil,
                split="train<1>",
                kind="out_of_domain",
                severity="error",
                expected="<none>",
                found=evil,
                explanation=evil,
                fix=f"domain: [{evil}]",
                examples=[ValueCount(value=evil, count=2), ValueCount(value="", count=1)],
            )
        ],
        compared={"<k>": "<v>"},
    )
    for page in (
        render_statistics_html(stats, title=evil),
        render_anomalies_html(report, statistics=stats, title=evil),
    ):
        assert_self_contained(page)
        assert "<script>" not in page and "<u>" not in page and "<none>" not in page and "<k>" not in page
        assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; &quot;quoted&quot; ünïcødé 列" in page
        assert "train&lt;1&gt;" in page
    page.encode("utf-8")


def test_lone_surrogates_do_not_break_writing(tmp_path: Path) -> None:
    stats = DatasetStatistics(
        splits={
            "train": SplitStatistics(name="train", num_rows=1, columns={"s": strings("s", 0, {"bad\udcff": 1}, 4.0)})
        }
    )
    (tmp_path / "s.html").write_text(render_statistics_html(stats), encoding="utf-8")


def odd_statistics() -> DatasetStatistics:
    """Constant, infinite, empty, boolean and type-changing columns, a column absent from a split, an empty split."""
    constant = numeric("constant", 10, 0, 5, 5, 5, 0, [10])
    infinite = ColumnStatistics(
        name="infinite",
        type="double",
        kind="numeric",
        count=3,
        missing=0,
        numeric=NumericStatistics(
            min=float("-inf"),
            max=1,
            mean=float("nan"),
            nan=1,
            histogram=Histogram(boundaries=[float("-inf"), 1], counts=[3]),
        ),
    )
    empty = ColumnStatistics(
        name="empty", type="double", kind="numeric", count=0, missing=10, numeric=NumericStatistics()
    )
    flag = ColumnStatistics(name="flag", type="bool", kind="boolean", count=10, missing=0)
    text = strings("text", 0, {"": 5, "x" * 200: 4, "naïve": 1}, 60.2)
    text.string.invalid_utf8 = 3
    return DatasetStatistics(
        splits={
            "train": SplitStatistics(
                name="train",
                num_rows=10,
                columns={
                    "constant": constant,
                    "infinite": infinite,
                    "empty": empty,
                    "flag": flag,
                    "text": text,
                    "flip": numeric("flip", 10, 0, 0, 1, 0.5, 0.2, [5, 5]),
                },
            ),
            "eval": SplitStatistics(name="eval", num_rows=0, columns={"flip": strings("flip", 0, {}, 0)}),
            "test": SplitStatistics(name="test", num_rows=0, columns={}),
        }
    )


def odd_report() -> AnomalyReport:
    return AnomalyReport(
        anomalies=[
            Anomaly(
                column="gone",
                kind="missing_column",
                severity="error",
                expected="a column",
                found="nothing",
                explanation="gone is in the schema but not in the data.",
                fix="Remove gone from schema.yaml.",
            ),
            Anomaly(
                column="flip",
                split="eval",
                kind="type_change",
                severity="error",
                expected="double",
                found="string",
                explanation="flip is a string in eval.",
                fix="columns:\n  flip:\n    type: string",
            ),
            Anomaly(
                column="",
                split="eval",
                kind="empty_split",
                severity="warning",
                expected="rows",
                found="0 rows",
                explanation="eval has no rows.",
                fix="Check the split's input files.",
            ),
        ]
        * 3
    )


TWENTY_BUCKETS = [1, 4, 9, 16, 25, 30, 25, 16, 9, 4, 1, 1, 2, 1, 1, 1, 1, 1, 1, 1]


def wide_statistics(columns: int) -> DatasetStatistics:
    def split(name: str, rows: int) -> SplitStatistics:
        cols = {}
        for i in range(columns):
            name_i = f"feature_{i:05d}"
            if i % 2:
                cols[name_i] = strings(name_i, i % 7, {f"v{j}": 100 - j for j in range(20)}, 2.5)
            else:
                cols[name_i] = numeric(name_i, rows - i % 5, i % 5, -1.0 * i, 2.0 * i + 1, 0.5 * i, 1.5, TWENTY_BUCKETS)
        return SplitStatistics(name=name, num_rows=rows, columns=cols)

    return DatasetStatistics(splits={"train": split("train", 10_000), "eval": split("eval", 2_000)})


def test_odd_columns_are_flagged_not_fatal() -> None:
    page = render_statistics_html(odd_statistics())
    assert_self_contained(page)
    assert "absent from this split" in page and "absent from eval, test" in page
    assert "type differs between splits" in page and "double / string" in page
    assert "3 invalid UTF-8" in page and "no histogram" in page and "NaN" in page
    assert 'class="bad">empty</span>' in page, "an empty split is flagged in the header"
    assert "Other columns (1)" in page
    assert "nan" not in re.sub(r"<title>.*?</title>|NaN", "", page).lower().replace("naïve", ""), (
        "no NaN reaches an SVG attribute"
    )
    report = render_anomalies_html(odd_report(), statistics=odd_statistics(), baseline=odd_statistics())
    assert_self_contained(report)
    assert "6 errors and 3 warnings" in report
    assert '<table class="index">' in report, "many anomalies get a table of contents"
    assert "Not in the statistics." in report


def test_ten_thousand_columns_stay_small(tmp_path: Path) -> None:
    stats = wide_statistics(10_000)
    page = render_statistics_html(stats)  # how long it takes: benchmarks/wide_table.py
    size = len(page.encode("utf-8"))
    assert size < 20_000_000, f"{size:,} bytes for 10,000 columns"
    assert page.count("<svg") == 800, "charts for the first 400 columns of each section"
    assert "Charts are drawn for the first 400 of 5,000 columns" in page
    assert ">feature_09999<" in page and ">feature_00000<" in page
    (tmp_path / "wide.html").write_text(page, encoding="utf-8")


@needs_chromium
@pytest.mark.parametrize("which", ["statistics", "anomalies", "no-anomalies", "odd-statistics", "odd-anomalies"])
def test_pages_load_in_chromium_without_errors(which: str, tmp_path: Path) -> None:
    if which == "statistics":
        page = render_statistics_html(penguins(drifted=True), title="Penguin statistics")
        expected = ["Penguin statistics", "body_mass_g", "flipper_length_mm", "island", "Categorical columns (3)"]
    elif which == "anomalies":
        page = render_anomalies_html(anomaly_report(), statistics=penguins(drifted=True), baseline=penguins())
        expected = [
            "2 errors and 1 warning",
            "island in eval has 7 values outside the schema's domain: 'Atlantis'.",
            "domain: [Biscoe, Dream, Torgersen, Atlantis]",
            "Affected columns",
            "eval against its baseline",
        ]
    elif which == "no-anomalies":
        page = render_anomalies_html(AnomalyReport(anomalies=[]), statistics=penguins())
        expected = [
            "No anomalies: the data matches the schema.",
            "7 columns checked in train (241 rows), eval (103 rows).",
        ]
    elif which == "odd-statistics":
        page = render_statistics_html(odd_statistics())
        expected = ["absent from this split", "type differs between splits", "no histogram"]
    else:
        page = render_anomalies_html(odd_report(), statistics=odd_statistics(), baseline=odd_statistics())
        expected = ["6 errors and 3 warnings", "gone is in the schema but not in the data.", "eval has no rows."]
    path = tmp_path / f"{which}.html"
    path.write_text(page, encoding="utf-8")
    shot = tmp_path / f"{which}.png"
    rendered = render_page(path, screenshot=shot)
    assert rendered.console_errors == []
    assert rendered.remote_requests == []
    for text in expected:
        assert text in rendered.text
    assert shot.stat().st_size > 10_000, "the screenshot is not blank"


@needs_chromium
def test_ten_thousand_columns_render_in_chromium(tmp_path: Path) -> None:
    path = tmp_path / "wide.html"
    path.write_text(render_statistics_html(wide_statistics(10_000)), encoding="utf-8")
    rendered = render_page(path, screenshot=tmp_path / "wide.png", timeout=120)
    assert rendered.console_errors == [] and rendered.remote_requests == []
    assert "feature_09999" in rendered.text and "feature_00000" in rendered.text
    assert rendered.height > 100_000, "every column has its rows"


def drifted_report() -> tuple[AnomalyReport, DatasetStatistics, DatasetStatistics]:
    """Real statistics of a penguin-like table and a drifted one (mass x1.1, a new island), validated with defaults."""
    import numpy as np

    from headrace.components.validator.anomalies import ValidationOptions, find_anomalies
    from headrace.components.validator.schema_inference import infer_schema
    from tests.test_drift_measures import population, split_statistics

    rng = np.random.default_rng(3)
    old, new = population(rng, 5_000), population(rng, 5_000)
    old["body_mass_g"], new["body_mass_g"] = old.pop("mass"), new.pop("mass") * 1.1
    new["island"][rng.random(5_000) < 0.05] = "Anvers"
    baseline = DatasetStatistics(splits={"train": split_statistics(old)})
    current = DatasetStatistics(splits={"train": split_statistics(new)})
    schema = infer_schema(baseline)
    schema.columns["island"].domain = None
    schema.columns["body_mass_g"].range = None
    report = find_anomalies(current, schema, baseline, ValidationOptions(skew_splits=None))
    return report, current, baseline


def test_drift_is_drawn_both_distributions_overlaid_with_each_measure_and_threshold() -> None:
    report, current, baseline = drifted_report()
    assert sorted((a.column, a.kind) for a in report.anomalies) == [("body_mass_g", "drift"), ("island", "drift")]
    page = render_anomalies_html(report, statistics=current, baseline=baseline)
    assert_self_contained(page)
    assert page.count("train over baseline · train") == 2  # one overlay per drifted column
    assert 'stroke-dasharray="4 3"' in page  # the two means marked on the numeric overlay
    assert "<td>Wasserstein distance</td>" in page and "<td>standard deviation change</td>" in page
    assert "<td>L-infinity distance</td>" in page and "<td>PSI</td>" in page
    assert 'class="bad">above</span>' in page and "largest move: Anvers 0% → " in page
    assert "against its baseline" not in page  # the overlay replaces the side-by-side chart


@needs_chromium
def test_drift_overlay_in_chromium(tmp_path: Path) -> None:
    report, current, baseline = drifted_report()
    path = tmp_path / "drift.html"
    path.write_text(render_anomalies_html(report, statistics=current, baseline=baseline), encoding="utf-8")
    rendered = render_page(path, screenshot=tmp_path / "drift.png", full_page=True)
    assert rendered.console_errors == [] and rendered.remote_requests == []
    for text in (
        "train over baseline · train",
        "baseline · train (5,000 values)",
        "Wasserstein distance",
        "standard deviations",
        "the share of 'Anvers' 0% → ",
        "above",
    ):
        assert text in rendered.text
    assert (tmp_path / "drift.png").stat().st_size > 20_000
