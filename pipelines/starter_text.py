"""The files ``headrace init --data`` writes, as text: a commented pipeline.yaml and the trainer's model.py.

The pipeline is written with selectors, not column lists, wherever it can be:
the transform keeps fitting when columns come and go. Column names appear only
where nothing else would do (the label, the columns left out), quoted when
YAML or ``${...}`` interpolation would read them otherwise.
"""

from __future__ import annotations

import json
import re
import textwrap

import yaml

from headrace.pipelines.starter_plan import StarterPlan

MISSING_CATEGORY = "(missing)"
"""What a null string becomes before the vocabulary: a category of its own, so no null reaches the estimator."""
VOCABULARY_TOP_K = 1000
"""The most frequent values kept per categorical column; rarer ones share the out-of-vocabulary index."""
ESTIMATORS = {"classification": "HistGradientBoostingClassifier", "regression": "HistGradientBoostingRegressor"}
_PLAIN = re.compile(r"^[A-Za-z0-9_./][A-Za-z0-9_./-]*$")
_SHOWN = 8


def scalar(text: str) -> str:
    """``text`` as a YAML scalar that reads back as the same string, in block and flow context alike."""
    text = text.replace("${", "$${")  # a literal ${ in a column name, not an interpolation
    if _PLAIN.match(text) and yaml.safe_load(text) == text:
        return text
    return json.dumps(text, ensure_ascii=False)  # a JSON string is a YAML double-quoted scalar


PUSHER = [
    "  pusher:",
    "    type: pusher",
    "    inputs:",
    "      model: trainer.model",
    "      blessing: evaluator.blessing",
    "    params:",
    "      push_dir: serving",
]
"""A starter's last step, after its comment: the blessed model pushed to serving/."""


def names_text(names: list[str]) -> str:
    """Column names for a comment: the first few, quoted where odd, and how many more."""
    shown = ", ".join(scalar(n).replace("$${", "${") for n in names[:_SHOWN])
    return shown + (f" and {len(names) - _SHOWN} more" if len(names) > _SHOWN else "")


def comment(text: str, indent: int, hang: int = 0) -> list[str]:
    """``text`` as YAML comment lines at ``indent`` spaces, wrapped at 116 columns; ``hang``: continuation indent."""
    prefix = " " * indent + "# "
    return textwrap.wrap(
        text, 116, initial_indent=prefix, subsequent_indent=prefix + " " * hang, break_on_hyphens=False
    )


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def pipeline_yaml(plan: StarterPlan, name: str, source: str, shown_source: str) -> str:
    """pipeline.yaml for ``plan``; ``source`` is the data's path as the file gives it (relative to the file)."""
    estimator = ESTIMATORS[plan.task]
    lines = [
        "# yaml-language-server: $schema=headrace.schema.json",
        *comment(
            f"Written by `headrace init` for {shown_source}: predict {names_text([plan.label])} ({plan.task}) from the "
            "other columns. Run it with `headrace run pipeline.yaml`; its paths are relative to this file, so it "
            "runs from any directory. Every step is a starting point: the comments say why it is there and what to "
            "edit; `headrace validate pipeline.yaml` checks an edited file before anything runs.",
            0,
        ),
        f"name: {scalar(name)}",
        "root: ./runs                          # artifacts and logs, relative to this file",
        "metadata: sqlite:///runs/metadata.db  # the metadata store (PostgreSQL/MySQL URLs work too)",
        "params:",
        *comment(f"The column to predict: {plan.task}, {plan.task_reason}.", 2),
        f"  label: {scalar(plan.label)}",
        "components:",
        "  # Reads the data where it lies (the path is relative to this file: edit it if you move either) and splits",
        "  # the rows 80/20 into train and eval by a hash of each row: a row keeps its split from run to run, and",
        "  # identical rows share one (set `split_key` to a column whose rows belong together, e.g. a customer id).",
        "  ingest:",
        "    type: ingest",
        "    params:",
        f"      source: {scalar(source)}",
        "      splits: {train: 8, eval: 2}",
        "  # Counts, nulls, ranges, top values and histograms of every column per split (an HTML page: see",
        "  # `headrace show RUN_ID`).",
        "  statistics:",
        "    type: statistics",
        "    inputs:",
        "      examples: ingest.examples",
        "  # The data's contract (types, presence, value ranges, categories), inferred from the train split on every",
        "  # run for now. To fix it: copy the schema.yaml of this step's output (its path is in `headrace show",
        "  # RUN_ID`) next to this file, review it, and add `params: {path: schema.yaml}` here.",
        "  schema:",
        "    type: schema",
        "    inputs:",
        "      statistics: statistics.statistics",
        "  # Checks every split against the schema: an anomaly of severity error stops the run before training, with",
        "  # a report of what broke the contract.",
        "  validator:",
        "    type: validator",
        "    inputs:",
        "      statistics: statistics.statistics",
        "      schema: schema.schema",
        "    params:",
        "      fail_on: error",
        "      # While the schema is inferred from this run's train split, the eval split's rare categories, tails",
        "      # and share of nulls differ from it by chance alone: warnings, not errors. Once the schema is",
        "      # curated (see above), delete this line so that new data breaking it stops the run.",
        "      severity: {out_of_domain: warning, out_of_range: warning, missing_fraction: warning}",
        *_transform(plan),
        *comment(
            f"Fits model.py's train(ctx), a scikit-learn {estimator}, on the transformed train split. The model "
            "is saved as one MLflow model with the fitted transform in front of it, so it takes raw rows. "
            "hyperparameters go to the estimator as they are (any of its parameters); seed is its random_state.",
            2,
        ),
        "  trainer:",
        "    type: trainer",
        "    inputs:",
        "      examples: transform.transformed_examples",
        "      transform_graph: transform.transform_graph",
        "      raw_examples: ingest.examples   # the model's input example: raw rows",
        "    params:",
        "      module: model.py",
        "      label: ${params.label}",
        f"      task: {plan.task}",
        "      hyperparameters: {learning_rate: 0.1, max_iter: 100}",
        "      seed: 0",
        *_evaluator(plan),
        "  # Copies a blessed model to serving/<version>/ (a model that is not blessed is not pushed, and the run",
        "  # says why). Serve the newest with `headrace serve pipeline.yaml`. With an `mlflow:` section in this file it",
        "  # is also registered in the MLflow Model Registry under the alias champion.",
        *PUSHER,
    ]
    return "\n".join(lines) + "\n"


def _transform(plan: StarterPlan) -> list[str]:
    """The transform step: nulls filled, numbers scaled, categories made indices; left-out columns dropped first."""
    label = '["${params.label}"]'
    lines = [
        "  # Features. Means and vocabularies are computed on the train split and frozen into a TransformGraph that",
        "  # the model carries, so serving transforms a raw row exactly as training did. Ops choose columns by",
        "  # selectors (type, name pattern), not lists, so they keep fitting when columns come and go; the label",
        "  # is excluded from every op, because the trainer needs its values as they are. Types are the columns'",
        "  # own (with `schema: schema.schema` wired in, a column with a domain is `categorical`, not `string`).",
        "  transform:",
        "    type: transform",
        "    inputs:",
        "      examples: ingest.examples",
        "    params:",
        "      ops:",
    ]
    if plan.dropped:
        lines.append("        # Left out of the model:")
        for column, why in plan.dropped.items():
            lines += comment(f"  {names_text([column])}: {why}", 8, hang=4)
        dropped = ", ".join(scalar(n) for n in plan.dropped)
        lines.append(f"        - drop: {{columns: [{dropped}]}}")
    if plan.numeric:
        lines += [
            *comment(
                f"Numbers ({_plural(len(plan.numeric), 'column')}: {names_text(plan.numeric)}): a null becomes the "
                "train mean, then (x - mean) / standard deviation.",
                8,
            ),
            f"        - fill_missing: {{select: {{type: numeric, exclude: {label}}}, strategy: mean}}",
            f"        - scale_to_z_score: {{select: {{type: numeric, exclude: {label}}}}}",
        ]
    if plan.strings:
        lines += [
            *comment(
                f"Text categories ({_plural(len(plan.strings), 'column')}: {names_text(plan.strings)}): a null is a "
                f"category of its own, {json.dumps(MISSING_CATEGORY)}.",
                8,
            ),
            f"        - fill_missing: {{select: {{type: string, exclude: {label}}}, strategy: constant, "
            f"value: {json.dumps(MISSING_CATEGORY)}}}",
        ]
    if plan.booleans:
        lines += [
            *comment(
                f"Booleans ({_plural(len(plan.booleans), 'column')}: {names_text(plan.booleans)}): a null becomes the "
                "most frequent value.",
                8,
            ),
            f"        - fill_missing: {{select: {{type: boolean, exclude: {label}}}, strategy: mode}}",
        ]
    if plan.categorical:
        lines += [
            *comment(
                f"Each category becomes its index in its column's vocabulary (the {VOCABULARY_TOP_K} most frequent "
                "values of the train split); values outside it share one more index, so new data cannot break it.",
                8,
            ),
            "        - compute_and_apply_vocabulary:",
            f"            select: {{type: categorical, exclude: {label}}}",
            f"            top_k: {VOCABULARY_TOP_K}",
        ]
    return lines


def _evaluator(plan: StarterPlan) -> list[str]:
    """The evaluator step, with a value threshold a useful model clears."""
    slice_hint = next((n for n in plan.categorical), None)
    lines = [
        "  # Judges the model on the raw eval rows, through the packaged model exactly as serving will: metrics",
        "  # overall and per slice, then thresholds decide the blessing the pusher obeys. A model that misses them is",
        "  # not blessed; the run goes on and says why. The baseline, the newest model this pipeline blessed before,",
        "  # is shown side by side.",
        "  evaluator:",
        "    type: evaluator",
        "    inputs:",
        "      model: trainer.model",
        "      examples: ingest.examples                         # raw rows: the model carries its transform",
        "      baseline: {latest: trainer.model, blessed: true}  # none for the first model",
        "      schema: schema.schema                             # lets `headrace validate` check slice columns",
        "    params:",
    ]
    if slice_hint is not None:
        lines.append(f"      # slices: [[{scalar(slice_hint)}]]   # metrics per value of a column, too")
    lines += [
        "      thresholds:",
        *comment(
            f"A low bar on purpose: {plan.baseline_note}, which any useful model clears. Raise it to what your use "
            "needs, and add a change threshold against the baseline, e.g. {min: 0.8, max_drop: 0.01}, so that a "
            "new model may not do worse than the blessed one.",
            8,
        ),
        f"        {plan.metric}: {{min: {plan.minimum}}}",
    ]
    return lines


def model_py(plan: StarterPlan, shown_source: str) -> str:
    """model.py: the trainer's ``train(ctx)``, a scikit-learn estimator for the plan's task."""
    estimator = ESTIMATORS[plan.task]
    others = {
        "classification": "LogisticRegression, RandomForestClassifier",
        "regression": "Ridge, RandomForestRegressor",
    }
    return f'''"""The model of this pipeline, written by `headrace init`: {plan.task} of params.label in pipeline.yaml.

headrace calls ``train(ctx)`` with the transformed examples (numbers scaled, categories as vocabulary indices,
nulls filled: see the transform step in pipeline.yaml) and saves what it returns behind the fitted transform,
so the saved model takes raw rows, nulls and categories it never saw included.

Why {estimator}: gradient-boosted trees do well on tables of mixed columns without tuning or
feature scaling, accept missing values (NaN), and fit a few hundred thousand rows in seconds. Return any
other fitted scikit-learn model instead ({others[plan.task]}, ...); the evaluator and pusher take
it as it is.
"""

# Data: {shown_source}; label: {names_text([plan.label])}

from sklearn.ensemble import {estimator}
from threadpoolctl import threadpool_limits

from headrace.components import TrainerContext


def train(ctx: TrainerContext) -> {estimator}:
    X, y = ctx.train.to_numpy()  # features in ctx.features order; rows whose label is null are left out
    model = {estimator}(random_state=ctx.seed, **ctx.hyperparameters)
    # One OpenMP thread: on a busy machine the threads of a parallel fit wait for each other (measured on 2 busy
    # cores: 11 s for 320 rows with two threads, 0.3 s with one). With large data on a machine of your own, fit
    # without this line to use every core.
    with threadpool_limits(limits=1, user_api="openmp"):
        return model.fit(X, y)
'''
