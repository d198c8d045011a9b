"""What ``headrace mlflow sync`` does: replay runs from the metadata store into MLflow, saying what happened."""

from __future__ import annotations

import click

from headrace.metadata.records import RunRecord
from headrace.metadata.store import MetadataStore
from headrace.pipelines.mlflow_target import MirrorTarget, target_from_run
from headrace.pipelines.mlflow_worker import read_status, status_path, write_mirrored, write_status
from headrace.pipelines.redaction import shown_url


def pending_runs(store: MetadataStore) -> list[RunRecord]:
    """Runs whose background mirroring recorded a failure (or never finished)."""
    found = []
    for run in store.list_runs(limit=10_000):
        status = read_status(status_path(run.root, run.pipeline, run.id)) if run.root else None
        if status is not None and status.get("state") != "mirrored":
            found.append(run)
    return found


def _target(run: RunRecord, tracking_uri: str | None, experiment: str | None) -> MirrorTarget:
    recorded = target_from_run(run)
    if tracking_uri is None and recorded is None:
        raise click.ClickException(
            f"run {run.id} of pipeline '{run.pipeline}' has no mlflow: section in its pipeline file; "
            "pass --tracking-uri (and --experiment) to mirror it anyway"
        )
    uri = tracking_uri or (recorded.tracking_uri if recorded else "")
    return MirrorTarget(uri, experiment or (recorded.experiment if recorded else run.pipeline))


def sync_runs(
    store: MetadataStore,
    run_ids: list[str],
    *,
    pending: bool = False,
    tracking_uri: str | None = None,
    experiment: str | None = None,
) -> int:
    """Mirror each run and print one line per run; the number that failed."""
    from headrace.pipelines.lineage_svg import run_lineage_svg
    from headrace.pipelines.mlflow_sync import MirrorError, sync_run

    runs: list[RunRecord] = []
    for run_id in run_ids:
        run = store.get_run(run_id)
        if run is None:
            raise click.ClickException(
                f"no run '{run_id}' in the metadata store {shown_url(store.url)}; `headrace runs` lists them"
            )
        runs.append(run)
    if pending:
        runs += [r for r in pending_runs(store) if r.id not in run_ids]
        if not runs:
            click.echo("no run waits for mirroring")
    failed = 0
    for run in runs:
        target = _target(run, tracking_uri, experiment)
        status = status_path(run.root, run.pipeline, run.id) if run.root else None
        try:
            report = sync_run(store, run.id, target, lineage_svg=run_lineage_svg)
        except MirrorError as exc:
            failed += 1
            click.echo(f"run {run.id}: {exc}", err=True)
            if status:
                write_status(
                    status, "failed", tracking_uri=target.tracking_uri, experiment=target.experiment, error=str(exc)
                )
            continue
        if status:
            write_mirrored(status, target, report)
        click.echo(
            f"run {run.id}: mirrored to experiment '{target.experiment}' ({report.experiment_id}) in "
            f"{shown_url(target.tracking_uri)}, MLflow run {report.parent_run_id} "
            f"({report.created} created, {report.updated} updated)"
        )
    return failed
