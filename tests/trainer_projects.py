"""A small training project on disk: penguins, the example's transform, a trainer step and a model module."""

from __future__ import annotations

import os
import shutil
import textwrap

from tests.projects import PENGUINS

PIPELINE = """\
name: training
root: ./runs
metadata: sqlite:///runs/metadata.db
params:
  label: species
components:
  ingest:
    type: ingest
    params:
      source: data/penguins.csv
  transform:
    type: transform
    inputs: {{examples: ingest.examples}}
    params:
      ops:
        - fill_missing: {{select: {{type: numeric, pattern: "_(mm|g)$", exclude: ["${{params.label}}"]}}, strategy: mean}}
        - scale_to_z_score: {{select: {{type: numeric, pattern: "_(mm|g)$", exclude: ["${{params.label}}"]}}}}
        - fill_missing: {{select: {{type: categorical, exclude: ["${{params.label}}"]}}, strategy: constant, value: unknown}}
        - compute_and_apply_vocabulary: {{select: {{type: categorical, exclude: ["${{params.label}}"]}}}}
  trainer:
    type: trainer
    inputs:
      examples: transform.transformed_examples
      transform_graph: transform.transform_graph
{raw_examples}    params:
      module: {module}
      entrypoint: {entrypoint}
      label: ${{params.label}}
      hyperparameters: {{trees: 10}}
      seed: 0
{extra}
"""

FOREST = """\
from sklearn.ensemble import RandomForestClassifier


def train(ctx):
    rows = sum(batch.num_rows for batch in ctx.train.batches(100))
    ctx.log_metric("batched_rows", rows)
    X, y = ctx.train.to_numpy()
    ctx.log_metric("feature_count", X.shape[1])
    frame = ctx.train.to_pandas()
    ctx.log_metric("frame_columns", len(frame.columns))
    ctx.log.info("task %s, label %s, schema %s", ctx.task, ctx.label, ctx.schema)
    model = RandomForestClassifier(n_estimators=ctx.hyperparameters["trees"], max_depth=4, random_state=ctx.seed)
    return model.fit(X, y)
"""


def write_training_project(
    folder: str,
    model_source: str = FOREST,
    *,
    module: str = "model.py",
    entrypoint: str = "train",
    raw_examples: bool = True,
    extra: str = "",
) -> str:
    """The project in ``folder`` (data, ``model.py``, ``pipeline.yaml``); returns the pipeline file's path."""
    os.makedirs(os.path.join(folder, "data"), exist_ok=True)
    shutil.copy(PENGUINS, os.path.join(folder, "data", "penguins.csv"))
    with open(os.path.join(folder, "model.py"), "w") as f:
        f.write(model_source)
    path = os.path.join(folder, "pipeline.yaml")
    wire = "      raw_examples: ingest.examples\n" if raw_examples else ""
    with open(path, "w") as f:
        f.write(
            PIPELINE.format(
                module=module, entrypoint=entrypoint, raw_examples=wire, extra=textwrap.indent(extra, "      ")
            )
        )
    return path
