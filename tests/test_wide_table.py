"""A 10,000-column table through ingest, statistics, schema and validator: it works, end to end."""

from __future__ import annotations

import json
import random
from pathlib import Path

from click.testing import CliRunner

from headrace.metadata.store import MetadataStore
from headrace.pipelines.cli import main
from headrace.pipelines.loader import load_pipeline

COLUMNS = 10_000

PIPELINE = """
name: wide
components:
  ingest: {type: ingest, params: {source: data/wide.csv}}
  statistics: {type: statistics, inputs: {examples: ingest.examples}}
  schema: {type: schema, inputs: {statistics: statistics.statistics}}
  validator:
    type: validator
    inputs: {statistics: statistics.statistics, schema: schema.schema}
    params: {fail_on: error, skew_splits: null}
"""


def test_ten_thousand_columns(tmp_path):
    rng = random.Random(7)
    (tmp_path / "data").mkdir()
    with open(tmp_path / "data" / "wide.csv", "w") as f:
        f.write(",".join(f"c{i}" for i in range(COLUMNS)) + "\n")
        for _ in range(60):
            f.write(",".join(str(rng.randint(0, 9)) if i % 2 else rng.choice("abc") for i in range(COLUMNS)) + "\n")
    pipeline = tmp_path / "pipeline.yaml"
    pipeline.write_text(PIPELINE)

    result = CliRunner().invoke(main, ["run", str(pipeline)], catch_exceptions=False)
    assert result.exit_code == 0, result.output

    store = MetadataStore(load_pipeline(str(pipeline)).metadata_url)
    run = store.list_runs(limit=1)[0]
    outputs = {e.component: store.outputs_of(e.id) for e in store.executions(run.id)}
    assert outputs["schema"]["schema"].properties["columns"] == COLUMNS
    statistics = json.loads(Path(outputs["statistics"]["statistics"].uri, "statistics.json").read_text())
    assert all(len(split["columns"]) == COLUMNS for split in statistics["splits"].values())
    assert outputs["validator"]["anomalies"].properties["counts"]["error"] == 0
