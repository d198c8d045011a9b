"""The Kubeflow commands of the CLI (``compile``, ``submit``, ``schedule``): checks first, then kfp.

Every bad input (a SQLite store, a local root, no image, a cron that is not
one, an unreachable host) is refused here with its fix, before anything is
written or sent.
"""

from __future__ import annotations

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
