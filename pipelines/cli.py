"""The ``headrace`` command line.

Start-up must stay fast (a fully cached rerun of the example under a second,
CLI included), so this module imports only click at import time; every
command imports what it needs inside its body.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:  # for annotations only: the CLI must not import these at start-up
    from headrace.metadata.store import MetadataStore
    from headrace.pipelines.graph import Pipeline
    from headrace.pipelines.observers import RunObserver

SET_HELP = "Override a value of the pipeline file, e.g. --set params.label=island (repeatable)."


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="headrace")
def main() -> None:
    """headrace: declarative ML pipelines in YAML, run locally or on Kubeflow."""


def console_main() -> None:
    """The ``headrace`` console script: ``main``, then an exit that skips tearing TensorFlow down.

    Once a component has imported TensorFlow, the interpreter's own exit
    spends 1.5 to 2 s unloading it, after the run is over and its summary
    printed. Here, with the output flushed and logging shut down, such a
    process ends at once with the same exit code. Only the console script
    does this: ``main`` called in a process that goes on (a test, a notebook)
    returns as before.
    """
    try:
        main()
    except SystemExit as done:
        if "tensorflow" not in sys.modules:
            raise
        code = done.code
        if isinstance(code, str):
            print(code, file=sys.stderr)
        import logging

        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code if isinstance(code, int) else 0 if code is None else 1)


@main.command()
@click.argument("pipeline_file", type=click.Path(dir_okay=False))
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help=SET_HELP)
def validate(pipeline_file: str, overrides: tuple[str, ...]) -> None:
    """Check PIPELINE_FILE without running anything: exit 0 when valid, 2 with every error otherwise."""
    pipeline = _load_or_exit(pipeline_file, overrides)
    warnings = _echo_warnings(pipeline_file, pipeline)
    noted = f", {warnings} warning{'s' if warnings != 1 else ''}" if warnings else ""
    click.echo(f"{pipeline_file}: pipeline '{pipeline.name}' is valid ({len(pipeline.nodes)} components{noted})")


def _echo_warnings(pipeline_file: str, pipeline: Pipeline) -> int:
    """Print what is valid but probably wrong (to stderr); the number printed."""
    from headrace.pipelines.preflight import pipeline_warnings

    warnings = pipeline_warnings(pipeline)
    for warning in warnings:
        click.echo(warning.render(pipeline_file), err=True)
    return len(warnings)


@main.command()
def schema() -> None:
    """Print the JSON Schema of pipeline files (for yaml-language-server and other editors)."""
    import json

    from headrace.pipelines.json_schema import pipeline_json_schema

    click.echo(json.dumps(pipeline_json_schema(), indent=2))


def _load_or_exit(pipeline_file: str, overrides: tuple[str, ...]) -> Pipeline:
    from headrace.pipelines.loader import PipelineSpecError, load_pipeline
    from headrace.pipelines.redaction import redact_console

    try:
        pipeline = load_pipeline(pipeline_file, list(overrides))
    except PipelineSpecError as exc:
        click.echo(exc.render(), err=True)
        sys.exit(2)
    redact_console(pipeline.secrets)  # from here on, nothing this process prints shows a secret
    return pipeline


def _open_store(url: str) -> MetadataStore:
    from headrace.metadata.store import MetadataStore
    from headrace.pipelines.redaction import Redactor, shown_url, url_password

    try:
        return MetadataStore(url)
    except Exception as exc:  # a store we cannot open is a user-facing error, not a traceback
        said = Redactor([p for p in [url_password(url)] if p]).text(str(exc))
        raise click.ClickException(f"cannot open the metadata store {shown_url(url)}: {said}") from None


def _store_for(metadata: str | None, pipeline_file: str | None) -> MetadataStore:
    """The store a query command reads: --metadata, else the pipeline file's, else $HEADRACE_METADATA, else ./runs."""
    import os

    if metadata:
        return _open_store(metadata)
    if pipeline_file:
        return _open_store(_load_or_exit(pipeline_file, ()).metadata_url)
    if os.environ.get("HEADRACE_METADATA"):
        return _open_store(os.environ["HEADRACE_METADATA"])
    default = os.path.join("runs", "metadata.db")
    if not os.path.exists(default):
        raise click.ClickException(
            f"no metadata store given and {default} does not exist here; "
            "pass -p PIPELINE.yaml or --metadata URL (or set HEADRACE_METADATA)"
        )
    return _open_store(f"sqlite:///{os.path.abspath(default)}")


store_options = [
    click.option(
        "-p",
        "--pipeline",
        "pipeline_file",
        type=click.Path(dir_okay=False),
        help="Read the metadata store URL from this pipeline file.",
    ),
    click.option(
        "--metadata", metavar="URL", help="Metadata store URL (sqlite:///..., postgresql://..., mysql://...)."
    ),
]


def with_store_options(fn: Callable[..., None]) -> Callable[..., None]:
    """``-p PIPELINE`` and ``--metadata URL``, shared by the commands that read the store."""
    for option in reversed(store_options):
        fn = option(fn)
    return fn


@main.command()
@click.argument("pipeline_file", type=click.Path(dir_okay=False))
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help=SET_HELP)
@click.option("--no-cache", is_flag=True, help="Run every component even when a cached result exists.")
@click.option(
    "--only", multiple=True, metavar="NAME", help="Run only this component (repeatable); inputs come from earlier runs."
)
@click.option("--from", "from_node", metavar="NAME", help="Run this component and everything downstream of it.")
@click.option("--resume", metavar="RUN_ID", help="Continue a failed or killed run: run only what did not complete.")
@click.option("--parallelism", type=click.IntRange(min=1), help="Components run at once (default: up to 4).")
@click.option("-q", "--quiet", is_flag=True, help="Print only warnings, failures and the final line.")
def run(
    pipeline_file: str,
    overrides: tuple[str, ...],
    no_cache: bool,
    only: tuple[str, ...],
    from_node: str | None,
    resume: str | None,
    parallelism: int | None,
    quiet: bool,
) -> None:
    """Validate PIPELINE_FILE, then run it locally with caching; exit 1 if a component fails."""
    pipeline = _load_or_exit(pipeline_file, overrides)
    _echo_warnings(pipeline_file, pipeline)
    from headrace.pipelines.local_runner import RunError, run_pipeline
    from headrace.pipelines.progress import choose_progress

    if resume and (only or from_node):
        raise click.UsageError("--resume reruns what did not complete; it cannot be combined with --only or --from")
    _check_component_names(pipeline, only, from_node)
    _check_root(pipeline)
    store = _open_store(pipeline.metadata_url)
    try:
        result = run_pipeline(
            pipeline,
            store,
            _with_mirror(pipeline, store.url, choose_progress(quiet)),
            use_cache=not no_cache,
            only=list(only),
            from_node=from_node,
            resume=resume,
            parallelism=parallelism,
        )
    except RunError as exc:
        raise click.ClickException(str(exc)) from None
    if result.state != "succeeded":
        click.echo(f"resume with: headrace run {pipeline_file} --resume {result.run_id}", err=True)
        sys.exit(1)


def _check_component_names(pipeline: Pipeline, only: tuple[str, ...], from_node: str | None) -> None:
    """``--only`` / ``--from`` naming no component is a usage error (exit 2), with the near name."""
    from headrace.pipelines.interpolation import did_you_mean

    for option, name in [*(("--only", n) for n in only), *([("--from", from_node)] if from_node else [])]:
        if name not in pipeline.nodes:
            hint = did_you_mean(name, pipeline.nodes) or f"components: {', '.join(pipeline.topological_order())}"
            raise click.BadParameter(
                f"no component named {name!r} in pipeline '{pipeline.name}' ({pipeline.file}); {hint}",
                param_hint=f"'{option}'",
            )


def _check_root(pipeline: Pipeline) -> None:
    """A ``root`` that cannot hold artifacts stops the run before anything is recorded (exit 2)."""
    from headrace.components.problems import Problem
    from headrace.pipelines.root_check import root_problem

    problem = root_problem(pipeline.root)
    if problem is None:
        return
    found = Problem(
        pipeline.file,
        0,
        0,
        f"root {pipeline.root!r} cannot hold the run's artifacts and logs: {problem}",
        "set root: to a folder you can write (it is created if missing), e.g. root: ./runs, "
        "or override it: --set root=/path/to/runs",
    )
    click.echo(found.render(), err=True)
    sys.exit(2)


FORMAT_OPTION = click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "tsv", "json"]),
    default="table",
    show_default=True,
    help="table for people; tsv (one line per row) or json (stable keys) for scripts.",
)


@main.command()
@with_store_options
@click.option("-n", "--limit", default=20, show_default=True, help="How many runs to list, newest first.")
@click.option("--ids", "ids_only", is_flag=True, help="Print only run ids, newest first (for scripts).")
@FORMAT_OPTION
def runs(pipeline_file: str | None, metadata: str | None, limit: int, ids_only: bool, fmt: str) -> None:
    """List recent runs."""
    from headrace.pipelines.console import console_for
    from headrace.pipelines.reports import runs_table

    store = _store_for(metadata, pipeline_file)
    if ids_only:
        for run in store.list_runs(limit=limit):
            click.echo(run.id)
        return
    if fmt != "table":
        from headrace.pipelines.run_export import run_summary, runs_tsv, to_json

        summaries = [run_summary(store, run) for run in store.list_runs(limit=limit)]
        click.echo(to_json(summaries) if fmt == "json" else runs_tsv(summaries))
        return
    console_for().print(runs_table(store, limit))


@main.command()
@click.argument("run_id")
@with_store_options
@FORMAT_OPTION
def show(run_id: str, pipeline_file: str | None, metadata: str | None, fmt: str) -> None:
    """Show one run: each execution's state, duration, cache hit or reason, artifacts and log."""
    from rich.table import Table

    from headrace.pipelines.console import console_for
    from headrace.pipelines.redaction import shown_url
    from headrace.pipelines.reports import run_report

    store = _store_for(metadata, pipeline_file)
    try:
        run = store.get_run(run_id)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    if run is None:
        raise click.ClickException(f"no run '{run_id}' in {shown_url(store.url)}; `headrace runs` lists them")
    if fmt != "table":
        from headrace.pipelines.run_export import executions_tsv, run_detail, to_json

        detail = run_detail(store, run)
        click.echo(to_json(detail) if fmt == "json" else executions_tsv(detail))
        return
    console = console_for()
    for part in run_report(store, run):  # text runs on (paths stay whole and clickable); tables fit the width
        console.print(part, soft_wrap=not isinstance(part, Table))


@main.command()
@click.option(
    "-p",
    "--pipeline",
    "pipeline_file",
    required=True,
    type=click.Path(dir_okay=False),
    help="The pipeline whose artifact root and metadata store to clean.",
)
@click.option("--yes", is_flag=True, help="Remove what is listed (default: a dry run that only lists it).")
def gc(pipeline_file: str, yes: bool) -> None:
    """Remove what killed or failed runs left behind: staging folders and never-published outputs.

    Nothing the metadata store refers to is touched, and nothing a live process
    may still be writing. Without --yes, only lists what would go.
    """
    from headrace.pipelines.leftovers import find_leftovers, remove_leftovers

    pipeline = _load_or_exit(pipeline_file, ())
    store = _open_store(pipeline.metadata_url)
    leftovers, interrupted = find_leftovers(pipeline, store)
    for leftover in leftovers:
        click.echo(f"{_bytes(leftover.bytes):>9}  {leftover.uri}  ({leftover.why})")
    for execution in interrupted:
        click.echo(f"execution {execution.id} ({execution.component}, run {execution.run_id}): its process died")
    total = _bytes(sum(leftover.bytes for leftover in leftovers))
    if not leftovers and not interrupted:
        click.echo(f"nothing to clean under {pipeline.root}")
    elif not yes:
        click.echo(
            f"dry run: {len(leftovers)} folder(s), {total}, would be freed; "
            "run again with --yes to remove them and mark dead executions interrupted"
        )
    else:
        remove_leftovers(pipeline, store, leftovers, interrupted)
        click.echo(
            f"removed {len(leftovers)} folder(s), freed {total}; marked {len(interrupted)} execution(s) interrupted"
        )


def _bytes(count: int) -> str:
    size = float(count)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GB"


@main.command()
@click.argument("artifact")
@click.option(
    "--up/--down",
    default=True,
    help="Trace what ARTIFACT was made from (--up, default) or what was made from it (--down).",
)
@click.option("--format", "fmt", type=click.Choice(["text", "json", "dot", "svg"]), default="text", show_default=True)
@with_store_options
def lineage(artifact: str, up: bool, fmt: str, pipeline_file: str | None, metadata: str | None) -> None:
    """Trace the lineage of ARTIFACT (an artifact id or URI)."""
    import json

    from headrace.pipelines.redaction import shown_url

    store = _store_for(metadata, pipeline_file)
    record = store.find_artifact(artifact)
    if record is None:
        raise click.ClickException(
            f"no artifact '{artifact}' in {shown_url(store.url)}; give an artifact id or URI from `headrace show`"
        )
    graph = store.lineage(record.id, "up" if up else "down")
    if fmt == "json":
        click.echo(json.dumps(graph.to_dict(), indent=2, default=str))
    elif fmt == "dot":
        click.echo(graph.to_dot())
    elif fmt == "svg":  # the same picture as on the MLflow parent run
        from headrace.pipelines.lineage_svg import lineage_svg

        click.echo(lineage_svg(graph, f"lineage of {record.type} #{record.id} ({'up' if up else 'down'})"), nl=False)
    else:
        click.echo(graph.to_text())


@main.command()
@click.argument("model")
@click.option("--reason", required=True, help="Why this model may be pushed although no evaluator blessed it.")
@click.option("--by", help="Who blesses it (default: the OS user).")
@with_store_options
def bless(model: str, reason: str, by: str | None, pipeline_file: str | None, metadata: str | None) -> None:
    """Force-bless MODEL (a Model's artifact id or URI), recording who and why.

    The model then counts as blessed in its pipeline (or the one -p names): it
    can be the {latest: trainer.model, blessed: true} baseline, and the next
    run's pusher pushes it.
    """
    from headrace.pipelines.manual_blessing import BlessingRefused, default_user
    from headrace.pipelines.manual_blessing import bless as record_blessing

    pipeline = _load_or_exit(pipeline_file, ()) if pipeline_file else None
    if metadata or pipeline is None:
        store = _store_for(metadata, None)
    else:
        store = _open_store(pipeline.metadata_url)
    try:
        done = record_blessing(
            store,
            model,
            reason=reason,
            by=by or default_user(),
            pipeline=pipeline.name if pipeline else None,
            root=pipeline.root if pipeline else None,
            pipeline_file=pipeline.file if pipeline else "",
        )
    except BlessingRefused as exc:
        raise click.ClickException(str(exc)) from None
    if done.already_blessed:
        click.echo(f"note: Model #{done.model.id} was already blessed in '{done.run.pipeline}'; recorded this too")
    click.echo(f"Model #{done.model.id} {done.blessing.properties['summary']}")
    click.echo(
        f"  recorded as ModelBlessing #{done.blessing.id} (execution {done.execution_id}, run {done.run.id} of "
        f"'{done.run.pipeline}'): `headrace show {done.run.id}` and `headrace lineage {done.model.id} --down` show it"
    )
    if done.baseline_note:
        click.echo(f"  {done.baseline_note}")
    click.echo("  a pusher that gets this model pushes it on the next `headrace run` (or `--only pusher`)")


@main.command()
@click.argument("run_id")
@click.argument("component")
@click.option("--path", "path_only", is_flag=True, help="Print the log file's path instead of its content.")
@with_store_options
def logs(run_id: str, component: str, path_only: bool, pipeline_file: str | None, metadata: str | None) -> None:
    """Print the log of COMPONENT in run RUN_ID."""
    from headrace.pipelines.reports import find_log

    store = _store_for(metadata, pipeline_file)
    try:
        path, note = find_log(store, run_id, component)
    except LookupError as exc:
        raise click.ClickException(str(exc)) from None
    if path_only:
        click.echo(path)
        return
    if note:
        click.echo(note, err=True)
    with open(path, encoding="utf-8", errors="replace") as f:
        click.echo(f.read(), nl=False)


@main.command()
@click.argument("directory", type=click.Path(file_okay=False))
@click.option("--name", help="Pipeline name (default: the directory's name).")
@click.option(
    "--data",
    metavar="FILE",
    help="A CSV, Parquet or JSON Lines file (or folder, glob, URI), or an image folder (<folder>/<class>/*.png): "
    "write a complete pipeline for it instead of the sample project. A table needs --label; a table of images (a "
    "column naming image files, or a Parquet tensor column of pixels) gets the image pipeline.",
)
@click.option(
    "--label", metavar="COLUMN", help="With --data: the column the model predicts (an image folder's is its classes)."
)
@click.option(
    "--task",
    type=click.Choice(["classification", "regression"]),
    help="With --data: the kind of model (default: classification for a string, boolean or integer label with "
    "few values, regression otherwise).",
)
def init(directory: str, name: str | None, data: str | None, label: str | None, task: str | None) -> None:
    """Create a project in DIRECTORY: a sample pipeline, or with --data FILE --label COLUMN one for your table.

    With --data, DIRECTORY gets pipeline.yaml (ingest, statistics, schema, validator, transform, trainer,
    evaluator, pusher), the trainer's model.py and headrace.schema.json; the pipeline reads FILE where it is.
    For an image folder (--data FOLDER, no --label) the model is a small CNN classifying the class folders; for
    a table of images, the same CNN classifying --label.
    """
    if data is None:
        if label is not None or task is not None:
            raise click.UsageError("--label and --task go with --data FILE")
        _init_starter(directory, name)
        return
    from headrace.components.problems import ProblemError
    from headrace.pipelines.data_starter import is_image_folder, write_data_starter

    if label is None and not is_image_folder(data):
        raise click.UsageError("--data needs --label COLUMN, the column the model predicts")

    try:
        written = write_data_starter(directory, data, label, task, name)
    except FileExistsError as exc:
        raise click.ClickException(str(exc)) from None
    except ProblemError as exc:
        click.echo(f"{exc}\nnothing written", err=True)
        sys.exit(2)
    for file in written.files:
        click.echo(f"created {file}")
    click.echo(
        f"\n{written.about}"
        if written.about
        else f"\n{written.task} of {label!r} from {written.features} feature column{'s' if written.features != 1 else ''}"
        + (f", {len(written.dropped)} left out (see the transform step)" if written.dropped else "")
    )
    for warning in written.warnings:
        click.echo(f"warning: {warning}", err=True)
    click.echo(f"next: headrace run {os.path.join(directory, 'pipeline.yaml')}")


def _init_starter(directory: str, name: str | None) -> None:
    from headrace.pipelines.starter import write_starter

    try:
        files = write_starter(directory, name)
    except FileExistsError as exc:
        raise click.ClickException(str(exc)) from None
    for file in files:
        click.echo(f"created {file}")
    click.echo(f"\nnext: headrace run {directory}/pipeline.yaml")


# -- Kubeflow Pipelines (pipelines/kubeflow/) ---------------------------------------------------------------------------


@main.command(name="compile")
@click.argument("pipeline_file", type=click.Path(dir_okay=False))
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="IR file to write (default: NAME.kfp.yaml).")
@click.option("--image", help="Container image with headrace installed (default: kubeflow.image of the pipeline file).")
@click.option("--local", is_flag=True, help="For kfp.local on this machine: a local root and paths are accepted.")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help=SET_HELP)
def compile_command(
    pipeline_file: str, output: str | None, image: str | None, local: bool, overrides: tuple[str, ...]
) -> None:
    """Compile PIPELINE_FILE to Kubeflow Pipelines v2 IR, with its user code packed inside."""
    from headrace.pipelines.kubeflow.commands import compile_to

    path, compiled = compile_to(_load_or_exit(pipeline_file, overrides), output, image, local=local)
    click.echo(
        f"{path}: pipeline '{compiled.pipeline.name}', {len(compiled.pipeline.nodes)} tasks, image {compiled.image}, "
        f"{len(compiled.pack.files)} files packed"
    )


@main.command()
@click.argument("pipeline_file", type=click.Path(dir_okay=False))
@click.option("--host", metavar="URL", help="KFP API endpoint (default: $KF_PIPELINES_ENDPOINT).")
@click.option("--experiment", help="KFP experiment (default: the pipeline name).")
@click.option("--image", help="Container image with headrace installed (default: kubeflow.image of the pipeline file).")
@click.option("--param", "params", multiple=True, metavar="NAME=VALUE", help="A pipeline parameter for this run.")
@click.option("--dry-run", is_flag=True, help="Print what would be sent; send nothing.")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help=SET_HELP)
def submit(
    pipeline_file: str,
    host: str | None,
    experiment: str | None,
    image: str | None,
    params: tuple[str, ...],
    dry_run: bool,
    overrides: tuple[str, ...],
) -> None:
    """Compile PIPELINE_FILE and start one run of it on Kubeflow Pipelines."""
    from headrace.pipelines.kubeflow.commands import submit_run

    submit_run(_load_or_exit(pipeline_file, overrides), host, experiment, image, params, dry_run=dry_run)


@main.command()
@click.argument("pipeline_file", type=click.Path(dir_okay=False), required=False)
@click.option("--cron", metavar="EXPR", help='When to run, e.g. "0 3 * * *" (five fields; KFP adds seconds).')
@click.option("--host", metavar="URL", help="KFP API endpoint (default: $KF_PIPELINES_ENDPOINT).")
@click.option("--name", help="Schedule name (default: the pipeline name); scheduling it again updates it.")
@click.option("--experiment", help="KFP experiment (default: the pipeline name).")
@click.option("--image", help="Container image with headrace installed (default: kubeflow.image of the pipeline file).")
@click.option("--param", "params", multiple=True, metavar="NAME=VALUE", help="A pipeline parameter for the runs.")
@click.option("--list", "list_only", is_flag=True, help="List the recurring runs and exit.")
@click.option("--delete", metavar="NAME", help="Delete the recurring run NAME and exit.")
@click.option("--dry-run", is_flag=True, help="Print what would be sent; send nothing.")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help=SET_HELP)
def schedule(
    pipeline_file: str | None,
    cron: str | None,
    host: str | None,
    name: str | None,
    experiment: str | None,
    image: str | None,
    params: tuple[str, ...],
    list_only: bool,
    delete: str | None,
    dry_run: bool,
    overrides: tuple[str, ...],
) -> None:
    """Run PIPELINE_FILE on Kubeflow on a cron schedule; again for the same name updates the schedule."""
    from headrace.pipelines.kubeflow import commands

    if list_only or delete:
        commands.manage_schedules(host, delete=delete, dry_run=dry_run)
        return
    if not pipeline_file or not cron:
        raise click.UsageError("give PIPELINE_FILE and --cron (or --list / --delete NAME)")
    commands.check_cron(cron)
    pipeline = _load_or_exit(pipeline_file, overrides)
    commands.schedule_run(pipeline, cron, host, name, experiment, image, params, dry_run=dry_run)


def _with_mirror(pipeline: Pipeline, store_url: str, progress: RunObserver) -> RunObserver:
    """The progress view, and the MLflow mirror when the pipeline file has an ``mlflow:`` section."""
    from headrace.pipelines.mlflow_mirror import mirror_for
    from headrace.pipelines.observers import Observers

    mirror = mirror_for(pipeline, store_url)
    return progress if mirror is None else Observers([progress, mirror])


@main.group()
def mlflow() -> None:
    """Mirror runs into MLflow, where users browse lineage (the metadata store stays the source of truth)."""


@mlflow.command("sync")
@click.argument("run_ids", nargs=-1)
@click.option("--pending", is_flag=True, help="Replay every run whose background mirroring failed.")
@click.option("--tracking-uri", metavar="URI", help="Mirror here instead of the run's mlflow.tracking_uri.")
@click.option("--experiment", metavar="NAME", help="Mirror into this experiment instead of the run's.")
@with_store_options
def mlflow_sync(
    run_ids: tuple[str, ...],
    pending: bool,
    tracking_uri: str | None,
    experiment: str | None,
    pipeline_file: str | None,
    metadata: str | None,
) -> None:
    """Mirror RUN_IDS into MLflow from the metadata store (idempotent: a replay creates no duplicates)."""
    from headrace.pipelines.mlflow_commands import sync_runs

    store = _store_for(metadata, pipeline_file)
    if not run_ids and not pending:
        raise click.UsageError("give RUN_IDS to mirror, or --pending to replay failed background mirroring")
    failed = sync_runs(store, list(run_ids), pending=pending, tracking_uri=tracking_uri, experiment=experiment)
    if failed:
        sys.exit(1)


@main.command()
@click.argument("run_a")
@click.argument("run_b")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@with_store_options
def diff(run_a: str, run_b: str, fmt: str, pipeline_file: str | None, metadata: str | None) -> None:
    """What changed from RUN_A to RUN_B: parameters, data, code, libraries, what re-ran and why, every metric."""
    import json

    from headrace.pipelines.run_diff import diff_text, run_diff

    store = _store_for(metadata, pipeline_file)
    try:
        compared = run_diff(store, run_a, run_b)
    except LookupError as exc:
        raise click.ClickException(str(exc.args[0])) from None
    click.echo(json.dumps(compared, indent=2, default=str) if fmt == "json" else diff_text(compared))


@main.command()
@click.argument("pipeline_file", type=click.Path(dir_okay=False))
@click.option("--port", type=click.IntRange(1, 65535), help="Port on 127.0.0.1 (default: a free one).")
def ui(pipeline_file: str, port: int | None) -> None:
    """Open the MLflow UI on PIPELINE_FILE's tracking store and print the experiment's URL (Ctrl-C stops it)."""
    from headrace.pipelines.mlflow_target import target_from_spec
    from headrace.pipelines.mlflow_ui import UiError, serve

    pipeline = _load_or_exit(pipeline_file, ())
    if not pipeline.mlflow:
        click.echo(
            f"{pipeline_file}: note: no mlflow: section, so runs are not mirrored; add `mlflow: {{}}` to mirror them",
            err=True,
        )
    try:
        target = target_from_spec({"mlflow": pipeline.mlflow}, pipeline.name, pipeline.root, pipeline.base_dir)
        assert target is not None
        serve(target, port, lambda url: click.echo(f"MLflow UI for pipeline '{pipeline.name}': {url}"))
    except (UiError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None


@main.command()
@click.argument("target")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on (0.0.0.0: every one).")
@click.option("--port", type=click.IntRange(1, 65535), help="Port (default: 5000 when free, else a free one).")
@click.option(
    "--model-name",
    help="TF Serving's model name in /v1/models/NAME:predict (default: the pusher's model_name, else 'model').",
)
def serve(target: str, host: str, port: int | None, model_name: str | None) -> None:
    """Serve a model over MLflow's /invocations and TF Serving's REST API until Ctrl-C.

    TARGET is a pipeline file (its latest pushed model, from the metadata
    store), a pusher's push_dir (its newest version) or an MLflow model directory.
    """
    import dataclasses

    from headrace.components.pusher.saved_model import model_name_problem
    from headrace.pipelines.loader import PipelineSpecError
    from headrace.pipelines.model_serving import ServeError, find_model
    from headrace.pipelines.model_serving import serve as serve_model

    problem = model_name_problem(model_name) if model_name is not None else None
    if problem:
        raise click.BadParameter(problem, param_hint="--model-name")
    try:
        model = find_model(target)
        if model_name is not None:
            model = dataclasses.replace(model, name=model_name)
        serve_model(model, host, port, lambda text: click.echo(text))
    except PipelineSpecError as exc:
        click.echo(exc.render(), err=True)
        sys.exit(2)
    except ServeError as exc:
        raise click.ClickException(str(exc)) from None


if __name__ == "__main__":
    main()
