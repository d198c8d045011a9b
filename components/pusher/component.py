"""The ``pusher`` component (TFX's Pusher): a blessed model to a versioned serving directory and the MLflow registry.

Inputs: ``model`` (Model), ``blessing`` (ModelBlessing, from the evaluator)
and optionally ``infra_blessing`` (InfraBlessing, from the infra validator).
The model is pushed only when the blessing says ``blessed: true`` (the same
rule as the store's "latest blessed model"), or a person blessed it by hand
in this pipeline (``headrace bless``: the runner hands that over as
``ctx.blessed_by_hand``), and, when ``infra_blessing`` is wired, it says
``served: true``: a person overrides the evaluator's judgement of quality,
not whether the model serves. Otherwise nothing is pushed and the run goes
on: the ``PushedModel`` output says ``pushed: false`` and why, and the run's
summary repeats it.

A push copies the model directory to ``<push_dir>/<version>/`` (see
``versions``) and, when the pipeline file has an ``mlflow:`` section,
registers that copy in the MLflow Model Registry as a version of
``registered_model_name`` (the pipeline's name by default) and moves
``alias`` (``champion``) to it.

A Keras model is also written as a SavedModel in TF Serving's layout,
``<push_dir>/<model_name>/<version>/`` (see ``saved_model``), with the same
version number; ``saved_model: never`` turns that off. A transform with no
Keras form refuses the SavedModel with a warning; the MLflow model is pushed.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import Field, field_validator

from headrace.components.artifacts import InfraBlessing, Model, ModelBlessing, PushedModel
from headrace.components.contract import Component, ComponentError, Context, Input, Parameters
from headrace.metadata.records import hand_blessing_text, says_blessed, says_blessed_by_hand

RECORD_FILE = "pushed_model.json"


class PusherParameters(Parameters):
    push_dir: str = Field(
        ...,
        description="The serving directory: versions go to <push_dir>/<version>/. A path relative to the "
        "pipeline file, or a pyarrow.fs URI (gs://, s3://).",
    )
    registry: bool = Field(
        True,
        description="Register pushed models in the MLflow Model Registry when the pipeline has an mlflow: section.",
    )
    registered_model_name: str | None = Field(
        None, description="The registered model's name in MLflow (default: the pipeline's name)."
    )
    alias: str = Field("champion", min_length=1, description="The registry alias moved to each pushed version.")
    saved_model: Literal["auto", "never"] = Field(
        "auto",
        description="auto: a Keras model is also written as a SavedModel for TF Serving, raw features in, at "
        "<push_dir>/<model_name>/<version>/ (refused, with a warning, when its transform has no Keras form); "
        "never: only the MLflow model.",
    )
    model_name: str | None = Field(
        None,
        description="TF Serving's model name, the folder of the SavedModel's versions and the name in "
        "/v1/models/<model_name>:predict (default: the pipeline's name, other characters than letters, digits "
        "and _ . - replaced by _).",
    )

    @field_validator("model_name")
    @classmethod
    def _serving_name(cls, value: str | None) -> str | None:
        from headrace.components.pusher.saved_model import model_name_problem

        problem = None if value is None else model_name_problem(value)
        if problem:
            raise ValueError(problem)
        return value


class PusherComponent(Component[PusherParameters]):
    type = "pusher"
    version = "2"  # 2: the SavedModel of a Keras model (re-runs pushes of version 1, which wrote none)
    description = (
        "Copies a blessed model to <push_dir>/<version>/ (a Keras model also as a SavedModel for TF Serving at "
        "<push_dir>/<model_name>/<version>/) and registers it in MLflow under an alias."
    )
    inputs = {
        "model": Input(Model, description="The packaged model to push."),
        "blessing": Input(ModelBlessing, description="The evaluator's verdict: pushed only when blessed."),
        "infra_blessing": Input(
            InfraBlessing,
            optional=True,
            description="The infra validator's verdict: when wired, pushed only if served.",
        ),
    }
    outputs = {"pushed_model": PushedModel}
    Parameters = PusherParameters
    requires = ("mlflow",)
    uses_mlflow_tracking = True
    uses_hand_blessing = True

    def run(self, ctx: Context[PusherParameters]) -> None:
        model = ctx.input("model", Model)
        blessing = ctx.input("blessing", ModelBlessing)
        by_hand = None if says_blessed(blessing.properties) else ctx.blessed_by_hand  # needed only to override it
        declined = decline_reason(blessing, ctx.optional_input("infra_blessing", InfraBlessing), by_hand)
        output = ctx.outputs["pushed_model"]
        record: dict[str, Any] = {"pushed": False, "model_artifact_id": model.id}
        if declined:
            record["reason"] = declined
            output.properties["warnings"] = [f"not pushed: {declined}"]
            ctx.log.warning("not pushed: %s", declined)
            ctx.progress(f"not pushed: {declined}")
        else:
            record.update(self.push(ctx, model, by_hand))
        from headrace.components.files import write_text

        # the file holds what follows from the inputs' content (no ids, no absolute paths), so the same model
        # pushed from another machine or store gives the same artifact; the properties hold everything
        stable: dict[str, Any] = {k: record[k] for k in ("pushed", "reason", "version") if k in record}
        if "saved_model" in record:
            stable["saved_model"] = f"{record['model_name']}/{record['version']}"  # relative to push_dir
        if "saved_model_refused" in record:
            stable["saved_model"] = None
            output.properties["warnings"] = [f"no SavedModel: {record['saved_model_refused']}"]
        stable["model_fingerprint"] = model.fingerprint
        write_text(output.path(RECORD_FILE), json.dumps(stable, indent=2, sort_keys=True) + "\n")
        output.properties.update(record)
        ctx.metrics.log("pushed", int(record["pushed"]))

    def push(self, ctx: Context[PusherParameters], model: Model, by_hand: ModelBlessing | None) -> dict[str, Any]:
        from headrace.components.pusher.versions import PushDirError, push

        params = ctx.params
        try:
            pushed = push(model.uri, ctx.resolve_path(params.push_dir))
        except PushDirError as exc:
            raise ComponentError(f"{ctx.place('push_dir')}: {exc}") from None
        verb = "pushed" if pushed.new else "already pushed"
        ctx.log.info("%s version %d: %s", verb, pushed.version, pushed.location)
        blessed = "blessed" if by_hand is None else hand_blessing_text(by_hand.properties)
        record: dict[str, Any] = {
            "pushed": True,
            "reason": blessed if pushed.new else f"version {pushed.version} already holds this model",
            "version": pushed.version,
            "path": pushed.location,
        }
        summary = f"{verb} as version {pushed.version}: {pushed.location}"
        saved = self.push_saved_model(ctx, model, ctx.resolve_path(params.push_dir), pushed.version, pushed.new)
        record.update(saved)
        if "saved_model" in saved:
            summary += f"; SavedModel {saved['saved_model']}"
        elif "saved_model_refused" in saved:
            summary += "; no SavedModel for TF Serving (the warning says why)"
        if by_hand is not None:
            props = by_hand.properties
            record["blessed_by_hand"] = {
                "by": props.get("by"),
                "reason": props.get("reason"),
                "blessing_id": by_hand.id,
            }
            summary += f"; {blessed} ({_name(by_hand)})"
            ctx.log.info("the evaluator did not bless the model; pushed on its hand blessing: %s", blessed)
        if params.registry and ctx.mlflow_tracking_uri:
            record.update(self.register(ctx, model, pushed.location, pushed.version, by_hand))
            summary += f"; registered {record['registered_model']} v{record['registered_version']} @{params.alias}"
        elif params.registry:
            ctx.log.info("not registered in MLflow: the pipeline file has no mlflow: section")
        record["summary"] = summary
        ctx.progress(summary)
        return record

    def push_saved_model(
        self, ctx: Context[PusherParameters], model: Model, push_dir: str, version: int, new: bool
    ) -> dict[str, Any]:
        """The SavedModel of a Keras model beside the MLflow version: ``model_name`` and ``saved_model`` or why not."""
        from headrace.components.model_package import ModelPackageError, read_info
        from headrace.components.pusher import saved_model
        from headrace.components.pusher.versions import PushDirError

        params = ctx.params
        name = params.model_name or saved_model.default_model_name(ctx.pipeline)
        record: dict[str, Any] = {"model_name": name}
        try:
            flavor = read_info(model.uri).flavor
        except ModelPackageError:
            flavor = None  # not a model headrace packaged: copied as it is, never a SavedModel
        if params.saved_model == "never" or flavor != "keras":
            return record
        try:
            written = saved_model.push_saved_model(model.uri, push_dir, name, version, replace=new)
        except PushDirError as exc:
            raise ComponentError(f"{ctx.place('push_dir')}: {exc}") from None
        if written.refused is not None:
            ctx.log.warning("no SavedModel for TF Serving: %s", written.refused)
            record["saved_model_refused"] = written.refused
            return record
        ctx.log.info("%s the SavedModel for TF Serving: %s", "wrote" if written.new else "kept", written.path)
        record["saved_model"] = written.path
        return record

    def register(
        self, ctx: Context[PusherParameters], model: Model, location: str, version: int, by_hand: ModelBlessing | None
    ) -> dict[str, Any]:
        from headrace.components.pusher.registration import register

        name = ctx.params.registered_model_name or ctx.pipeline
        if not name:
            raise ComponentError(
                f"component `{ctx.component}` cannot register the model: set params.registered_model_name"
            )
        artifact = f"Model #{model.id}" if model.id is not None else f"the model at {model.uri}"
        description = (
            f"Pushed by headrace: pipeline `{ctx.pipeline}`, run `{ctx.run_id}` (`headrace show {ctx.run_id}`), "
            f"{artifact} (`headrace lineage {model.id if model.id is not None else model.uri} --up`), "
            f"serving copy {location}."
        )
        tags = {
            "headrace.pipeline": ctx.pipeline,
            "headrace.run_id": ctx.run_id,
            "headrace.execution_id": str(ctx.execution_id),
            "headrace.model_artifact_id": str(model.id) if model.id is not None else "",
            "headrace.push_version": str(version),
        }
        if by_hand is not None:
            description += (
                f" The evaluator did not bless it: {hand_blessing_text(by_hand.properties)} ({_name(by_hand)})."
            )
            tags["headrace.blessed_by_hand"] = hand_blessing_text(by_hand.properties)
        try:
            registration = register(ctx.mlflow_tracking_uri, name, ctx.params.alias, location, description, tags)
        except Exception as exc:
            raise ComponentError(
                f"pushed {location}, but registering it in the MLflow Model Registry failed: {type(exc).__name__}: "
                f"{exc}; fix the tracking store (the pipeline's mlflow: section) and re-run: the push is not repeated"
            ) from None
        ctx.log.info("registered %s version %s, alias %s", registration.name, registration.version, registration.alias)
        return {
            "registered_model": registration.name,
            "registered_version": registration.version,
            "alias": registration.alias,
        }


def decline_reason(
    blessing: ModelBlessing, infra: InfraBlessing | None, by_hand: ModelBlessing | None = None
) -> str | None:
    """Why the model may not be pushed, or None when it may (``by_hand``: its hand blessing, which overrides ``blessing``)."""
    if not says_blessed(blessing.properties) and not says_blessed_by_hand(by_hand.properties if by_hand else None):
        said = _why_not_blessed(blessing.properties)
        if said:
            return f"the model is not blessed ({_name(blessing)}): {said}"
        return f"the model is not blessed ({_name(blessing)} says blessed: {json.dumps(blessing.properties.get('blessed'))})"
    if infra is not None and infra.properties.get("served") is not True:
        error = infra.properties.get("error")
        return f"the model failed infra validation ({_name(infra)}: not served)" + (f": {error}" if error else "")
    return None


def _why_not_blessed(properties: dict[str, Any]) -> str:
    """The blessing's own words for why not (the evaluator's first warning, or its summary), without a verdict prefix."""
    warnings = properties.get("warnings") or []
    said = str(warnings[0] if warnings else properties.get("summary") or properties.get("reason") or "")
    prefix = "not blessed: "
    return said[len(prefix) :] if said.lower().startswith(prefix) else said


def _name(artifact: Any) -> str:
    return f"{artifact.type_name} #{artifact.id}" if artifact.id is not None else artifact.type_name
