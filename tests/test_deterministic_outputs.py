"""Every built-in's outputs are a function of its inputs' content and its parameters only.

Two executions on the same content, in different folders, under different
component names and run ids, must publish artifacts with the same fingerprint:
otherwise everything downstream re-runs for nothing (a schema that embeds its
input's path made the validator re-run although no byte of data changed).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from click.testing import CliRunner

from headrace.metadata.store import MetadataStore
from headrace.pipelines.cli import main
from headrace.pipelines.loader import load_pipeline

PENGUINS = Path(__file__).resolve().parent.parent / "examples" / "penguin" / "data" / "penguins.csv"

# every built-in, once inferring its schema and once with a curated one
PIPELINE = """
name: {name}
root: ./runs
metadata: sqlite:///runs/metadata.db
components:
  {prefix}ingest:
    type: ingest
    params: {{source: data/penguins.csv, splits: {{train: 8, eval: 2}}}}
  {prefix}statistics:
    type: statistics
    inputs: {{examples: {prefix}ingest.examples}}
  {prefix}schema:
    type: schema
    inputs: {{statistics: {prefix}statistics.statistics}}
  {prefix}curated:
    type: schema
    params: {{path: curated.yaml}}
  {prefix}validator:
    type: validator
    inputs: {{statistics: {prefix}statistics.statistics, schema: {prefix}schema.schema,
             baseline: {prefix}statistics.statistics}}
  {prefix}transform:
    type: transform
    inputs: {{examples: {prefix}ingest.examples, schema: {prefix}curated.schema}}
    params:
      module: features.py
      ops:
        - fill_missing: {{select: {{type: numeric}}, strategy: mean}}
        - clip: {{columns: [flipper_length_mm], min: 100, max: 300}}   # an error in an op would name the file
        - compute_and_apply_vocabulary: {{select: {{type: categorical}}}}
"""

FEATURES = """import pyarrow.compute as pc


def preprocessing_fn(inputs, tx):
    return {"mass": pc.divide(inputs["body_mass_g"], tx.max(inputs["body_mass_g"])), "island": inputs["island"]}
"""


CURATED = PENGUINS.parent.parent / "schema.yaml"


def _project(folder: Path, name: str, prefix: str) -> str:
    (folder / "data").mkdir(parents=True)
    shutil.copy(PENGUINS, folder / "data" / "penguins.csv")
    shutil.copy(CURATED, folder / "curated.yaml")
    (folder / "features.py").write_text(FEATURES)
    path = folder / "pipeline.yaml"
    path.write_text(PIPELINE.format(name=name, prefix=prefix))
    return str(path)


def _fingerprints(pipeline_file: str, prefix: str) -> dict[str, str]:
    result = CliRunner().invoke(main, ["run", pipeline_file, "--no-cache", "--quiet"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    store = MetadataStore(load_pipeline(pipeline_file).metadata_url)
    run_id = store.list_runs(limit=1)[0].id
    found = {}
    for execution in store.executions(run_id):
        for output, artifact in store.outputs_of(execution.id).items():
            found[f"{execution.component.removeprefix(prefix)}.{output}"] = artifact.fingerprint
    return found


def test_same_content_gives_the_same_artifact_fingerprint_for_every_builtin(tmp_path):
    first = _project(tmp_path / "a", "alpha", "")
    second = _project(tmp_path / "b", "beta", "other_")
    once = _fingerprints(first, "")
    again = _fingerprints(first, "")  # same folder, a new run and new execution ids
    elsewhere = _fingerprints(second, "other_")  # another folder, pipeline and component names
    assert set(once) == {
        "ingest.examples",
        "statistics.statistics",
        "schema.schema",
        "curated.schema",
        "validator.anomalies",
        "transform.transformed_examples",
        "transform.transform_graph",
    }
    assert once == again
    assert once == elsewhere
