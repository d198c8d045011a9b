"""The Kubeflow commands of the CLI (``compile``, ``submit``, ``schedule``): checks first, then kfp.

Every bad input (a SQLite store, a local root, no image, a cron that is not
one, an unreachable host) is refused here with its fix, before anything is
written or sent.
"""

from __future__ import annotations

import os
import tempfile
from typing import Any

import click

from headrace.pipelines.graph import Pipeline
from headrace.pipelines.kubeflow.code_pack import PackError
from headrace.pipelines.kubeflow.compile import Compiled, CompileError, compile_pipeline, output_path, prepare


class KubeflowInputError(click.ClickException):
    """Bad input to a Kubeflow command: exit 2, like an invalid pipeline file."""

    exit_code = 2


def compile_to(pipeline: Pipeline, output: str | None, image: str | None, *, local: bool) -> tuple[str, Compiled]:
    """Check, pack and compile; the IR's path and what went into it."""
    try:
        compiled = prepare(pipeline, image, local=local)
    except (CompileError, PackError) as exc:
        raise KubeflowInputError(str(exc)) from None
    path = output_path(pipeline, output)
    compile_pipeline(compiled, path)
    return path, compiled


def submit_run(
    pipeline: Pipeline,
    host: str | None,
    experiment: str | None,
    image: str | None,
    params: tuple[str, ...],
    *,
    dry_run: bool,
) -> None:
    """Compile, then create one run on KFP (``kfp.Client.create_run_from_pipeline_package``)."""
    with tempfile.TemporaryDirectory(prefix="headrace-kfp-") as folder:
        path, compiled = compile_to(pipeline, os.path.join(folder, f"{pipeline.name}.kfp.yaml"), image, local=False)
        arguments = parse_parameters(params, compiled)
        experiment = experiment or pipeline.name
        if dry_run:
            click.echo(_would_send("create run", compiled, path, experiment=experiment, arguments=arguments))
            return
        client = connect(host)
        result = client.create_run_from_pipeline_package(
            path, arguments=arguments, run_name=_run_name(pipeline), experiment_name=experiment, enable_caching=False
        )
    click.echo(f"submitted run {result.run_id} of pipeline '{pipeline.name}' to experiment '{experiment}'")


def schedule_run(
    pipeline: Pipeline,
    cron: str,
    host: str | None,
    name: str | None,
    experiment: str | None,
    image: str | None,
    params: tuple[str, ...],
    *,
    dry_run: bool,
) -> None:
    """Create the recurring run ``name``, or replace it (KFP has no update) with a new pipeline version and cron."""
    import datetime

    name = name or pipeline.name
    experiment = experiment or pipeline.name
    with tempfile.TemporaryDirectory(prefix="headrace-kfp-") as folder:
        path, compiled = compile_to(pipeline, os.path.join(folder, f"{pipeline.name}.kfp.yaml"), image, local=False)
        arguments = parse_parameters(params, compiled)
        kfp_cron = check_cron(cron)
        stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%d-%H%M%S")
        version = f"{pipeline.name}-{stamp}-{_file_digest(path)[:8]}"
        if dry_run:
            click.echo(
                _would_send(
                    "create or update recurring run",
                    compiled,
                    path,
                    experiment=experiment,
                    arguments=arguments,
                    schedule=name,
                    cron=kfp_cron,
                    pipeline_version=version,
                )
            )
            return
        client = connect(host)
        experiment_id = client.create_experiment(experiment).experiment_id
        pipeline_id = client.get_pipeline_id(pipeline.name)
        if pipeline_id is None:
            pipeline_id = client.upload_pipeline(path, pipeline_name=pipeline.name).pipeline_id
        version_id = client.upload_pipeline_version(
            path, pipeline_version_name=version, pipeline_id=pipeline_id
        ).pipeline_version_id
        existing = _recurring_runs_named(client, name, experiment_id)
        for old in existing:
            client.delete_recurring_run(old.recurring_run_id)
        client.create_recurring_run(
            experiment_id,
            name,
            cron_expression=kfp_cron,
            params=arguments,
            pipeline_id=pipeline_id,
            version_id=version_id,
            enable_caching=False,
            no_catchup=True,
        )
    verb = "updated" if existing else "created"
    click.echo(f"{verb} schedule '{name}': pipeline '{pipeline.name}' version {version}, cron {cron!r}")


def manage_schedules(host: str | None, *, delete: str | None, dry_run: bool) -> None:
    """``--list`` the recurring runs, or ``--delete NAME`` one of them."""
    if delete and dry_run:
        click.echo(f"would delete the recurring run '{delete}' on {host or os.environ.get('KF_PIPELINES_ENDPOINT')}")
        return
    client = connect(host)
    if delete:
        found = _recurring_runs_named(client, delete, None)
        if not found:
            raise KubeflowInputError(f"no recurring run named '{delete}'; `headrace schedule --list` shows them")
        for run in found:
            client.delete_recurring_run(run.recurring_run_id)
        click.echo(f"deleted schedule '{delete}'")
        return
    runs = client.list_recurring_runs(page_size=200).recurring_runs or []
    if not runs:
        click.echo("no recurring runs")
    for run in runs:
        cron = run.trigger.cron_schedule.cron if run.trigger and run.trigger.cron_schedule else "-"
        version = run.pipeline_version_reference.pipeline_version_id if run.pipeline_version_reference else "-"
        click.echo(f"{run.display_name}\t{cron}\t{run.status or run.mode or ''}\tversion {version}")


def check_cron(cron: str) -> str:
    """KFP's six-field cron (seconds first) for a five-field (or six-field) expression; else exit 2 saying why."""
    fields = cron.split()
    ranges = [(0, 59), (0, 23), (1, 31), (1, 12), (0, 7)]
    if len(fields) == 6:
        fields, seconds = fields[1:], fields[0]
    else:
        seconds = "0"
    problem = None
    if len(fields) != 5:
        problem = f"it has {len(cron.split())} fields"
    else:
        for text, (low, high), what in zip(fields, ranges, ("minute", "hour", "day", "month", "weekday"), strict=True):
            if not _cron_field_ok(text, low, high):
                problem = f"{what} field {text!r} is not a number in {low}-{high}, a range, a list, a step or *"
                break
    if problem or not _cron_field_ok(seconds, 0, 59):
        raise KubeflowInputError(
            f"--cron {cron!r} is not a cron expression: {problem or 'bad seconds field'}; "
            'expected five fields "MINUTE HOUR DAY MONTH WEEKDAY", e.g. "0 3 * * *" for 03:00 every day'
        )
    return " ".join([seconds, *fields])


_NAMED = {"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"}
_NAMED |= {"sun", "mon", "tue", "wed", "thu", "fri", "sat"}


def _cron_field_ok(text: str, low: int, high: int) -> bool:
    for part in text.split(","):
        base, _, step = part.partition("/")
        if step and not (step.isdigit() and int(step) > 0):
            return False
        if base in ("*", "?"):
            continue
        bounds = base.split("-")
        if len(bounds) > 2:
            return False
        for bound in bounds:
            if bound.lower() in _NAMED:
                continue
            if not bound.isdigit() or not low <= int(bound) <= high:
                return False
    return True


def parse_parameters(texts: tuple[str, ...], compiled: Compiled) -> dict[str, object]:
    """``--param NAME=VALUE`` as the pipeline parameter's type; unknown names and bad values exit 2."""
    import yaml

    from headrace.components.suggestions import did_you_mean

    found: dict[str, object] = {}
    for text in texts:
        name, sep, raw = text.partition("=")
        if not sep or name not in compiled.parameters:
            known = list(compiled.parameters)
            hint = did_you_mean(name, known) or (f"parameters: {', '.join(known)}" if known else "it has none")
            raise KubeflowInputError(
                f"--param {text!r}: not a parameter of pipeline '{compiled.pipeline.name}'; {hint}"
            )
        default = compiled.parameters[name]
        value: object = raw if isinstance(default, str) else yaml.safe_load(raw)
        if not isinstance(value, type(default)) or (isinstance(value, bool) and not isinstance(default, bool)):
            raise KubeflowInputError(
                f"--param {text!r}: expected a {type(default).__name__}, like its default {default!r}"
            )
        found[name] = value
    return found


def connect(host: str | None) -> Any:
    """A ``kfp.Client`` for a host that answers; an unreachable host exits 2 before anything is sent."""
    import urllib.error
    import urllib.request

    host = host or os.environ.get("KF_PIPELINES_ENDPOINT")
    if not host:
        raise KubeflowInputError(
            "no KFP host: pass --host http://HOST:PORT (e.g. after `kubectl port-forward -n kubeflow "
            "svc/ml-pipeline-ui 8080:80`) or set KF_PIPELINES_ENDPOINT"
        )
    if "://" not in host:
        host = "http://" + host
    try:
        with urllib.request.urlopen(host.rstrip("/") + "/apis/v2beta1/healthz", timeout=10):
            pass
    except urllib.error.HTTPError as exc:
        if exc.code in (404, 405, 500, 502, 503):
            raise KubeflowInputError(
                f"--host {host} answered {exc.code} on /apis/v2beta1/healthz: not a KFP v2 API endpoint"
            ) from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise KubeflowInputError(
            f"cannot reach the KFP API at --host {host}: {reason}; check the address "
            "(kubectl port-forward -n kubeflow svc/ml-pipeline-ui 8080:80, then --host http://localhost:8080)"
        ) from None
    from kfp import Client

    return Client(host=host)


def _recurring_runs_named(client: Any, name: str, experiment_id: str | None) -> list[Any]:
    import json

    predicate = {"operation": "EQUALS", "key": "display_name", "stringValue": name}
    found = client.list_recurring_runs(
        experiment_id=experiment_id, page_size=200, filter=json.dumps({"predicates": [predicate]})
    )
    return [run for run in (found.recurring_runs or []) if run.display_name == name]


def _run_name(pipeline: Pipeline) -> str:
    import datetime

    return f"{pipeline.name} {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M:%S}"


def _file_digest(path: str) -> str:
    import hashlib

    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def _would_send(action: str, compiled: Compiled, path: str, **fields: object) -> str:
    import json

    lines = [
        f"dry run: would {action} (nothing sent)",
        f"  pipeline: {compiled.pipeline.name} ({len(compiled.pipeline.nodes)} tasks, image {compiled.image})",
        f"  package: {os.path.getsize(path)} bytes, sha256 {_file_digest(path)[:16]}, "
        f"{len(compiled.pack.files)} files packed",
    ]
    lines += [f"  {key.replace('_', ' ')}: {json.dumps(value)}" for key, value in fields.items()]
    return "\n".join(lines)
