"""The ``infra_validator`` component (TFX's InfraValidator): does the model load and answer in a real server?

A model that evaluates well can still fail where it is deployed: a flavor
that does not load, a dependency missing, a request the signature rejects.
So the model is started the way it will be served, ``mlflow models serve
--env-manager local`` in a separate process, and sent canary requests: the
first ``canary_rows`` raw rows of the ``split`` of the ``examples`` input (or
the model's own input example when ``examples`` is not wired), ``requests``
times. The answers must be one well-formed prediction per row (for a
classifier, one of its classes). The server is always stopped, also after an
error or a timeout.

Output ``infra_blessing`` (InfraBlessing): ``infra_blessing.json`` and the
properties ``served`` (bool), ``canary_rows``, ``requests``, ``error``,
``latency_ms_p50`` / ``latency_ms_max`` (per request) and ``startup_s``. A
model that is not served is a verdict, not a crash: the blessing is
published with ``served: false`` and the error, and a pusher wired to it
declines.
"""

from __future__ import annotations

import json
import os
import statistics
import tempfile
from typing import Any

from pydantic import Field

from headrace.components.artifacts import Examples, InfraBlessing, Model
from headrace.components.contract import Component, ComponentError, Context, Input, Parameters

VERDICT_FILE = "infra_blessing.json"


class InfraValidatorParameters(Parameters):
    canary_rows: int = Field(10, ge=1, description="How many raw rows of the split each canary request carries.")
    split: str = Field("eval", description="The split of the examples input the canary rows come from.")
    requests: int = Field(5, ge=1, description="How many canary requests to send (latency is over these).")
    startup_timeout_s: float = Field(
        120.0, gt=0, description="Seconds the server may take to answer /ping before the model is not served."
    )
    request_timeout_s: float = Field(30.0, gt=0, description="Seconds one canary request may take.")


class InfraValidatorComponent(Component[InfraValidatorParameters]):
    type = "infra_validator"
    version = "1"
    description = "Serves the model with `mlflow models serve` in a separate process and sends it canary requests."
    inputs = {
        "model": Input(Model, description="The packaged model (an MLflow model directory)."),
        "examples": Input(
            Examples,
            optional=True,
            description="Raw examples (e.g. ingest.examples): canary rows come from their split.",
        ),
    }
    outputs = {"infra_blessing": InfraBlessing}
    Parameters = InfraValidatorParameters
    requires = ("mlflow",)

    def run(self, ctx: Context[InfraValidatorParameters]) -> None:
        from headrace.components import local_server, model_server
        from headrace.components.model_package import ModelPackageError, read_info

        model = ctx.input("model", Model)
        blessing = ctx.outputs["infra_blessing"]
        params = ctx.params
        try:
            info = read_info(model.uri)
        except ModelPackageError as exc:
            _publish(ctx, blessing, _verdict(False, 0, 0, f"the model cannot be served: {exc}"))
            return
        body = canary_request(ctx, model.uri, info.raw_columns)
        rows = len(body["dataframe_split"]["data"])
        ctx.progress(f"starting mlflow models serve with {rows} canary rows")
        with tempfile.TemporaryDirectory(prefix="headrace-infra-") as scratch:
            log_path = os.path.join(scratch, "server.log")
            try:
                with model_server.serving(
                    model.uri, log_path=log_path, startup_timeout=params.startup_timeout_s
                ) as server:
                    ctx.log.info("server answered /ping at %s after %.2f s", server.url, server.startup_seconds)
                    ctx.progress(f"up in {server.startup_seconds:.1f}s; sending {params.requests} canary requests")
                    answers = [
                        model_server.invoke(server.url, body, params.request_timeout_s) for _ in range(params.requests)
                    ]
                error = next((e for e in (answer_problem(a, rows, info.classes) for a in answers) if e), None)
                verdict = _verdict(error is None, rows, len(answers), error)
                verdict.update(_latency(answers), startup_s=round(server.startup_seconds, 3))
            except (local_server.ServerError, OSError) as exc:
                verdict = _verdict(False, rows, 0, str(exc))
            ctx.log.info("the server's output:\n%s", local_server.tail(log_path, 20_000))
        _publish(ctx, blessing, verdict)


def canary_request(ctx: Context[InfraValidatorParameters], model_uri: str, columns: list[str]) -> dict[str, Any]:
    """The canary rows as a ``dataframe_split`` body: from the examples' split, or the model's own example."""
    from headrace.components import model_server

    examples = ctx.optional_input("examples", Examples)
    if examples is None:
        example = os.path.join(model_uri, model_server.SERVING_EXAMPLE)
        if not os.path.isfile(example):
            raise ComponentError(
                f"component `{ctx.component}` has no canary rows: its `examples` input is not wired and the model "
                f"has no {model_server.SERVING_EXAMPLE}; wire the raw examples (inputs: {{examples: ingest.examples}})"
            )
        with open(example, encoding="utf-8") as f:
            return dict(json.load(f))
    split = ctx.params.split
    if split not in examples.splits:
        place = ctx.location("split")
        raise ComponentError(
            f"{place + ': ' if place else ''}the examples have no split {split!r} for canary rows "
            f"(splits: {', '.join(examples.splits) or 'none'}); set components.{ctx.component}.params.split to one"
        )
    present = set(examples.dataset(split).schema.names)
    missing = [c for c in columns if c not in present]
    if missing:
        raise ComponentError(
            f"the examples wired to `{ctx.component}` lack the column(s) {', '.join(missing)} that the model takes "
            "as raw input; wire the raw examples the model was trained from (e.g. ingest.examples), not transformed ones"
        )
    import pyarrow as pa

    batches = []
    wanted = ctx.params.canary_rows
    for batch in examples.batches(split, batch_size=wanted, columns=columns):
        batches.append(batch)
        wanted -= batch.num_rows
        if wanted <= 0:
            break
    if not batches or sum(b.num_rows for b in batches) == 0:
        raise ComponentError(f"split {split!r} of the examples is empty: there are no canary rows to send")
    from headrace.components.model_server import dataframe_split

    table = pa.Table.from_batches(batches).slice(0, ctx.params.canary_rows)
    return dataframe_split(table.to_pandas())


def answer_problem(answer: Any, rows: int, classes: list[Any] | None) -> str | None:
    """What is wrong with one answer to a canary request, or None when it is one valid prediction per row."""
    if answer.status != 200:
        return f"the server answered HTTP {answer.status}: {answer.error}"
    predictions = answer.body.get("predictions") if isinstance(answer.body, dict) else None
    if not isinstance(predictions, list):
        return f"the server's answer has no list of predictions: {json.dumps(answer.body)[:500]}"
    if len(predictions) != rows:
        return f"the server answered {len(predictions)} predictions for {rows} rows"
    if classes:
        known = {str(c) for c in classes}
        unknown = sorted({str(p) for p in predictions} - known)
        if unknown:
            return f"the server predicted {', '.join(unknown)}, which is not a class of the model ({', '.join(known)})"
    return None


def _verdict(served: bool, rows: int, requests: int, error: str | None) -> dict[str, Any]:
    return {"served": served, "canary_rows": rows, "requests": requests, "error": _one_line(error) if error else None}


def _one_line(text: str, limit: int = 400) -> str:
    """An error as one line for properties and summaries; a long one keeps its end, where the cause is."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else "..." + flat[-limit:]


def _latency(answers: list[Any]) -> dict[str, float]:
    milliseconds = [a.seconds * 1000 for a in answers]
    return {
        "latency_ms_p50": round(statistics.median(milliseconds), 2),
        "latency_ms_max": round(max(milliseconds), 2),
    }


def _publish(ctx: Context[InfraValidatorParameters], blessing: Any, verdict: dict[str, Any]) -> None:
    """Write the verdict file (served, rows, error: no timings, so the same model gives the same file)."""
    from headrace.components.files import write_text

    stable = {k: verdict[k] for k in ("served", "canary_rows", "requests", "error")}
    write_text(blessing.path(VERDICT_FILE), json.dumps(stable, indent=2, sort_keys=True) + "\n")
    blessing.properties.update(verdict)
    if verdict["served"]:
        blessing.properties["summary"] = (
            f"served {verdict['canary_rows']} canary rows x {verdict['requests']} requests: "
            f"p50 {verdict['latency_ms_p50']:.1f} ms, max {verdict['latency_ms_max']:.1f} ms, "
            f"up in {verdict['startup_s']:.1f} s"
        )
        for name in ("latency_ms_p50", "latency_ms_max"):
            ctx.metrics.log(name, verdict[name])
        ctx.metrics.log("startup_seconds", verdict["startup_s"])
    else:
        blessing.properties["warnings"] = [f"not served: {verdict['error']}"]
        ctx.log.warning("the model was not served: %s (the server's output is above)", verdict["error"])
        ctx.progress(f"not served: {verdict['error']}")
    ctx.metrics.log("served", int(verdict["served"]))
