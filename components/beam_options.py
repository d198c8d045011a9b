"""The pipeline file's ``beam: {runner, options}`` as Beam ``PipelineOptions``, and running a pipeline.

Shared by every component that runs a Beam pipeline (statistics, ingest).
Components receive ``ctx.beam_options = {"runner": ..., **options}``.

Importing this module does not import Beam (that costs about a second); only
``pipeline_options`` and ``run_pipeline`` do, so a component may call
``is_local_runner`` to decide whether to start Beam at all.
"""

from __future__ import annotations

from typing import Any

LOCAL_RUNNERS = ("DirectRunner", "SwitchingDirectRunner", "FnApiRunner", "BundleBasedDirectRunner")
"""Runners that run in this process (or its children): an in-process engine is no worse than them."""

RUNNER_PATHS = {
    "DirectRunner": "headrace.components.beam_direct.PythonDirectRunner",
    "DaskRunner": "apache_beam.runners.dask.dask_runner.DaskRunner",
}
"""Runner names mapped to classes: ``DirectRunner`` is Beam's Python runner without the Prism detour
(``beam_direct``); DaskRunner is not in Beam's registry of short names."""


def runner_name(beam_options: dict[str, Any] | None) -> str:
    return str((beam_options or {}).get("runner") or "DirectRunner")


def is_local_runner(runner: str) -> bool:
    """``DirectRunner`` and its relatives, by short name or dotted path."""
    return runner.rsplit(".", 1)[-1] in LOCAL_RUNNERS


def pipeline_options(beam_options: dict[str, Any]) -> Any:
    """``{runner: ..., <option>: value}`` from the pipeline file as Beam command-line flags.

    Flags rather than keyword arguments, because several options' attribute
    names differ from their flags (``--dask_client_address`` is stored as
    ``address``) and users copy flags from Beam's documentation.
    """
    from apache_beam.options.pipeline_options import PipelineOptions

    flags = []
    for key, value in beam_options.items():
        if key == "runner":
            value = RUNNER_PATHS.get(str(value), value)
        if value is True:
            flags.append(f"--{key}")
        elif value is False or value is None:
            continue
        elif isinstance(value, (list, tuple)):
            flags.extend(f"--{key}={v}" for v in value)
        else:
            flags.append(f"--{key}={value}")
    return PipelineOptions(flags)


def run_pipeline(pipeline: Any) -> None:
    """Run ``pipeline`` to completion, then close what the runner left open.

    DaskRunner opens a dask ``Client`` per run and never closes it; it also
    returns no values to the driver, so components have their last step write
    results to files (under the output artifact) and read them back.
    """
    outcome = pipeline.run()
    try:
        outcome.wait_until_finish()
    finally:
        client = getattr(outcome, "client", None)
        if client is not None:
            client.close()
