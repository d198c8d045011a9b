"""``headrace bless MODEL --reason "..."``: a person blesses a model the evaluator did not, on the record.

The blessing is recorded the way an evaluator's is, so everything that asks
the store "is this model blessed?" treats it alike (the ``{latest: ...,
blessed: true}`` baseline; ``execution.hand_blessing``, which hands it to
the next run's pusher): an execution of type ``manual_blessing``, in a run
of its own of the model's pipeline, that reads the model as its ``model``
input and outputs a ``ModelBlessing`` (``blessed: true``, ``forced: true``,
who and why). ``show`` and ``lineage`` then show who blessed it and why,
next to the evaluator's verdict it overrides.
"""

from __future__ import annotations

import getpass
import json
import os
from dataclasses import dataclass

from headrace.components.artifacts import ModelBlessing
from headrace.components.files import write_text
from headrace.metadata.records import ArtifactRecord, RunRecord, hand_blessing_text
from headrace.metadata.store import MetadataStore
from headrace.pipelines import artifact_store
from headrace.pipelines.execution import publish_outputs

COMPONENT = "headrace bless"  # not a valid node name, so it never mixes with a pipeline's own components
COMPONENT_TYPE = "manual_blessing"
FOLDER = "manual_blessing"


class BlessingRefused(ValueError):
    """The model cannot be blessed as asked; the message says why and what to do."""


@dataclass
class ManualBlessing:
    model: ArtifactRecord
    blessing: ArtifactRecord
    run: RunRecord
    execution_id: int
    already_blessed: bool
    baseline_note: str


def default_user() -> str:
    """Who is blessing: the OS user (``--by`` names someone else)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (a container with an arbitrary uid)
        return os.environ.get("USER") or "unknown"


def bless(
    store: MetadataStore,
    model_ref: str,
    *,
    reason: str,
    by: str,
    pipeline: str | None = None,
    root: str | None = None,
    pipeline_file: str = "",
) -> ManualBlessing:
    """Record a forced blessing of the Model ``model_ref`` (id or URI) in ``pipeline`` (default: the model's own)."""
    reason, by = reason.strip(), by.strip()
    if not reason:
        raise BlessingRefused('a manual blessing needs a reason: --reason "why this model may be pushed"')
    if not by:
        raise BlessingRefused("a manual blessing needs someone who gives it: --by NAME")
    model = store.find_artifact(model_ref)
    if model is None:
        raise BlessingRefused(f"no artifact '{model_ref}' in the metadata store; give a Model's id or URI from `show`")
    if model.type != "Model":
        raise BlessingRefused(f"artifact #{model.id} is {model.type}, not a Model: only models are blessed")
    if model.state != "live":
        raise BlessingRefused(f"Model #{model.id} is {model.state}, not live: it was never published")
    producer = store.producer(model.id)
    made_in = store.get_run(producer.run_id) if producer is not None else None
    if made_in is None or producer is None:
        raise BlessingRefused(f"Model #{model.id} has no recorded producer, so it belongs to no pipeline")
    output = next(name for name, a in store.outputs_of(producer.id).items() if a.id == model.id)
    pipeline = pipeline or made_in.pipeline
    root = root or made_in.root
    already = store.is_blessed(model, pipeline=pipeline)
    run = store.create_run(pipeline, spec={}, pipeline_file=pipeline_file or made_in.pipeline_file, root=root)
    summary = hand_blessing_text({"by": by, "reason": reason})
    execution = store.create_execution(
        run.id,
        COMPONENT,
        COMPONENT_TYPE,
        "1",
        parameters={"by": by, "reason": reason},
        cache_key=None,
        cache_inputs={},
        reason=summary,
        inputs={"model": model.id},
    )
    try:
        staged = ModelBlessing(uri=artifact_store.staging_uri(root, pipeline, FOLDER, "blessing", execution.id))
        document = {
            "blessed": True,
            "forced": True,
            "by": by,
            "reason": reason,
            "summary": summary,
            "checks": [],
            "model_id": model.id,
            "model_fingerprint": model.fingerprint,
        }
        write_text(staged.path("blessing.json"), json.dumps({"format": 1, **document}, indent=2) + "\n")
        staged.properties.update(document)
        published = publish_outputs(store, root, pipeline, FOLDER, execution.id, {"blessing": staged})
        store.finish_execution(execution.id, "complete", publish=[a.id for a in published.values()])
    except BaseException as exc:
        store.finish_execution(execution.id, "failed", error=f"{type(exc).__name__}: {exc}")
        store.set_run_state(run.id, "failed")
        raise
    store.set_run_state(run.id, "succeeded")
    blessing = store.get_artifact(published["blessing"].id)
    assert blessing is not None
    return ManualBlessing(
        model,
        blessing,
        run,
        execution.id,
        already,
        _baseline_note(store, model, producer.component, output, pipeline),
    )


def _baseline_note(store: MetadataStore, model: ArtifactRecord, component: str, output: str, pipeline: str) -> str:
    """Whether the model is now what ``{latest: <component>.<output>, blessed: true}`` picks in the pipeline."""
    latest = store.latest_output(pipeline, component, output, accept=lambda a: store.is_blessed(a, pipeline=pipeline))
    wire = f"{{latest: {component}.{output}, blessed: true}}"
    if latest is not None and latest.id == model.id:
        return f"it is now the newest blessed {component}.{output} of pipeline '{pipeline}': the next run's {wire}"
    if latest is not None:
        return f"Model #{latest.id} is a newer blessed {component}.{output} of '{pipeline}': it stays the {wire}"
    return ""
