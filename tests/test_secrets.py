"""Secrets read from the environment: they reach components, and nothing a person or a file sees shows them.

Each leak path is driven through the real CLI with one secret, then the
console, the metadata store, the log and ``show`` are searched for it.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import textwrap
from pathlib import Path

import pytest

from tests.projects import PENGUINS, headrace

SECRET = "S3cr3tV4lue9"
PG_PASSWORD = "hunter3pw"

STEPS = '''
import os

from headrace.components import Artifact, Context, Output, component


class Note(Artifact):
    """What the component saw of its token."""


@component
def use_token(note: Output[Note], token: str = "", ctx: Context = None) -> dict:
    ctx.progress(f"using {token}")
    ctx.log.info("token is %s", token)
    os.makedirs(note.uri, exist_ok=True)
    with open(os.path.join(note.uri, "length.txt"), "w") as f:
        f.write(str(len(token)))
    note.properties["seen"] = f"token={token}"
    return {"token_length": len(token)}
'''


@pytest.fixture
def project(tmp_path):
    """A folder with a user component that prints, logs and records the token it is given."""

    def write(pipeline: str) -> str:
        (tmp_path / "steps.py").write_text(STEPS)
        shutil.copy(PENGUINS, tmp_path / "penguins.csv")
        path = tmp_path / "pipeline.yaml"
        path.write_text(textwrap.dedent(pipeline))
        return str(path)

    return write


def everything_recorded(pipeline_file: str) -> str:
    """The whole SQLite store, every log file and every artifact file of the project, as one text."""
    folder = os.path.dirname(pipeline_file)
    texts = ["\n".join(sqlite3.connect(os.path.join(folder, "runs", "metadata.db")).iterdump())]
    for directory, _, files in os.walk(os.path.join(folder, "runs")):
        for name in files:
            if not name.endswith((".db", ".db-wal", ".db-shm")):
                with open(os.path.join(directory, name), encoding="utf-8", errors="replace") as f:
                    texts.append(f.read())
    return "\n".join(texts)


THROUGH_PARAMS = """
    name: secrets
    root: ./runs
    params:
      tok: ${env:MY_SECRET}
    components:
      use:
        type: steps:use_token
        params: {token: "${params.tok}"}
"""


def test_env_through_params_reaches_the_component_as_its_value_and_stays_a_secret(project):
    path = project(THROUGH_PARAMS)
    ran = headrace("run", path, env={"MY_SECRET": SECRET})
    assert ran.returncode == 0, ran.stdout + ran.stderr
    folder = os.path.dirname(path)
    (length,) = [Path(d, "length.txt").read_text() for d, _, files in os.walk(folder) if "length.txt" in files]
    assert length == str(len(SECRET))  # not the 16 characters of "${env:MY_SECRET}"

    # the progress note "using <token>" on the console shows the mask, not the value
    assert "using ***" in ran.stdout
    assert SECRET not in ran.stdout + ran.stderr

    recorded = everything_recorded(path)
    assert SECRET not in recorded
    assert "${env:MY_SECRET}" in recorded  # the store keeps the reference
    assert "token is ***" in recorded and "token=***" in recorded  # log line, artifact property

    run_id = headrace("runs", "-p", path, "--ids", env={"MY_SECRET": SECRET}).stdout.split()[0]
    shown = headrace("show", run_id, "-p", path, "--format", "json", env={"MY_SECRET": SECRET})
    assert '"token": "${env:MY_SECRET}"' in shown.stdout and SECRET not in shown.stdout


def test_a_params_chain_resolves_and_a_cycle_is_named_where_it_starts(project):
    path = project(
        """
        name: chain
        params:
          inner: ${env:MY_SECRET}
          outer: "Bearer ${params.inner}"
          a: "${params.b}"
          b: "x-${params.a}"
        components:
          use:
            type: steps:use_token
            params: {token: "${params.outer}"}
          again:
            type: steps:use_token
            params: {token: "${params.a}"}
        """
    )
    checked = headrace("validate", path, env={"MY_SECRET": SECRET})
    assert checked.returncode == 2
    assert f"{path}:6:6: error: parameters refer to each other in a cycle: params.a -> params.b -> params.a" in (
        checked.stderr
    )
    assert checked.stderr.count("error:") == 1  # the chain through params.outer resolved


def test_a_secret_in_a_parameter_validation_error_is_masked(project):
    path = project(
        """
        name: delimiter
        params:
          tok: ${env:MY_SECRET}
        components:
          ingest:
            type: ingest
            params: {source: penguins.csv, delimiter: "${params.tok}"}
        """
    )
    checked = headrace("run", path, env={"MY_SECRET": SECRET})
    assert checked.returncode == 2
    assert "String should have at most 1 character (got '***')" in checked.stderr
    assert SECRET not in checked.stdout + checked.stderr


def test_a_metadata_url_password_is_never_printed(project):
    path = project(
        """
        name: store
        metadata: postgresql://postgres:${env:PGPW}@127.0.0.1:1/postgres
        components:
          use: {type: steps:use_token}
        """
    )
    ran = headrace("run", path, env={"PGPW": PG_PASSWORD})
    assert ran.returncode == 1
    assert "cannot open the metadata store postgresql://postgres:***@127.0.0.1:1/postgres" in ran.stderr
    assert PG_PASSWORD not in ran.stdout + ran.stderr

    # not a secret, written on the command line: still not printed
    listed = headrace("runs", "--metadata", f"postgresql://postgres:{PG_PASSWORD}@127.0.0.1:1/postgres")
    assert listed.returncode == 1
    assert "postgresql://postgres:***@127.0.0.1:1/postgres" in listed.stderr
    assert PG_PASSWORD not in listed.stdout + listed.stderr


def test_redactor_masks_the_longest_secret_first_and_leaves_short_values_alone():
    from headrace.pipelines.redaction import Redactor, shown_url

    redactor = Redactor(["abcd", "abcdefgh", ""])
    assert redactor.text("x abcdefgh y abcd") == "x *** y ***"
    assert redactor.value({"k abcd": ["abcdefgh", 3]}) == {"k ***": ["***", 3]}
    # the records of a pipeline file show a secret as the reference that read it
    records = Redactor(["abcdefgh"], shown_as={"abcdefgh": "${env:TOKEN}"})
    assert records.value({"k": ["Bearer abcdefgh"]}) == {"k": ["Bearer ${env:TOKEN}"]}
    assert shown_url("mysql+pymysql://root:pw@db:3306/x") == "mysql+pymysql://root:***@db:3306/x"
    assert shown_url("sqlite:////tmp/m.db") == "sqlite:////tmp/m.db"
    assert shown_url("/just/a/path") == "/just/a/path"


def test_validate_warnings_mask_a_secret_they_quote(project):
    path = project(
        """
        name: warned
        params:
          src: ${env:MY_SOURCE}
        components:
          ingest: {type: ingest, params: {source: "${params.src}"}}
        """
    )
    checked = headrace("validate", path, env={"MY_SOURCE": f"/data/{SECRET}.csv"})
    assert checked.returncode == 0
    assert "warning: components.ingest.params.source: '***' does not exist" in checked.stderr
    assert SECRET not in checked.stdout + checked.stderr


def test_through_any_number_of_params_the_store_keeps_the_reference(project):
    from headrace.pipelines.loader import load_pipeline

    path = project(
        """
        name: chain
        metadata: "postgresql://me:${params.password}@db/meta"
        params:
          password: ${env:PGPW}
          inner: ${env:MY_SECRET}
          outer: "Bearer ${params.inner}"
        components:
          use:
            type: steps:use_token
            params: {token: "${params.outer}"}
        """
    )
    pipeline = load_pipeline(path, environ={"MY_SECRET": SECRET, "PGPW": PG_PASSWORD})
    node = pipeline.nodes["use"]
    assert node.params.token == f"Bearer {SECRET}"
    assert node.display_params == {"token": "Bearer ${env:MY_SECRET}"}
    assert pipeline.metadata_url == f"postgresql://me:{PG_PASSWORD}@db/meta"
    assert pipeline.spec["metadata"] == "postgresql://me:${env:PGPW}@db/meta"
    assert pipeline.secrets == frozenset({SECRET, PG_PASSWORD})
