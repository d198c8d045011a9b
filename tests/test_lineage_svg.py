"""`headrace lineage --format svg`: the picture also attached to the MLflow parent run."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from tests.projects import headrace, make_project


def test_lineage_svg_draws_the_executions_and_artifacts_an_artifact_came_from(tmp_path: Path) -> None:
    pipeline = make_project(str(tmp_path))
    headrace("run", pipeline, "-q", check=True)
    headrace("run", pipeline, "-q", "--set", "params.scale=3.0", check=True)  # ingest is a cache hit now
    (final,) = sorted((tmp_path / "runs" / "demo" / "artifacts" / "publish.final").iterdir())[-1:]
    result = headrace("lineage", str(final), "-p", pipeline, "--format", "svg")
    assert result.returncode == 0, result.stderr
    root = ET.fromstring(result.stdout)  # well-formed SVG a browser and MLflow's artifact view show
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    texts = [t.text for t in root.iter("{http://www.w3.org/2000/svg}text")]
    assert {"ingest", "count", "publish"} <= set(texts)
    assert any(t and t.startswith("Examples #") for t in texts)
    assert any(t and "344 rows" in t for t in texts)
