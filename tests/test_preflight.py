"""What `validate` and `run` say about a valid file that will probably bite: unhashed data paths, missing
data, a metadata URL no store can live in."""

from __future__ import annotations

import textwrap
from pathlib import Path

from click.testing import CliRunner

from headrace.pipelines.cli import main

STEPS = '''
from headrace.components import Artifact, DataPath, Output, component


class Text(Artifact):
    """One text file."""


@component()
def copy_plain(out: Output[Text], lookup: str = "data/lookup.txt", label: str = "species") -> None:
    import os
    os.makedirs(out.uri, exist_ok=True)
    with open(lookup) as src, open(os.path.join(out.uri, "copy.txt"), "w") as dst:
        dst.write(src.read())


@component()
def copy_declared(out: Output[Text], lookup: DataPath = "data/lookup.txt") -> None:
    import os
    os.makedirs(out.uri, exist_ok=True)
    with open(lookup) as src, open(os.path.join(out.uri, "copy.txt"), "w") as dst:
        dst.write(src.read())
'''


def _project(folder: Path, step: str, metadata: str = "sqlite:///runs/metadata.db") -> str:
    (folder / "data").mkdir(parents=True, exist_ok=True)
    (folder / "data" / "lookup.txt").write_text("one")
    (folder / "steps.py").write_text(STEPS)
    pipeline = folder / "pipeline.yaml"
    pipeline.write_text(
        textwrap.dedent(f"""\
            name: demo
            metadata: {metadata}
            components:
              copy:
                type: steps:{step}
                params: {{lookup: {folder / "data" / "lookup.txt"}}}
            """)
    )
    return str(pipeline)


def _cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_a_plain_str_parameter_naming_a_file_is_a_warning_with_the_fix(tmp_path):
    pipeline = _project(tmp_path, "copy_plain")
    code, out, err = _cli("validate", pipeline)
    assert code == 0
    assert "1 warning" in out
    assert "components.copy.params.lookup" in err
    assert "whose content does not enter the cache key" in err and "annotate the parameter DataPath" in err
    assert "label" not in err  # 'species' names no file
    code, out, err = _cli("run", pipeline, "--quiet")
    assert code == 0, out + err
    assert "annotate the parameter DataPath" in err


def test_a_declared_data_path_gives_neither_warning_nor_placeholder_in_the_rerun_reason(tmp_path):
    pipeline = _project(tmp_path, "copy_declared")
    code, out, err = _cli("validate", pipeline)
    assert code == 0 and "warning" not in out + err
    assert _cli("run", pipeline, "--quiet")[0] == 0
    (tmp_path / "data" / "lookup.txt").write_text("two")
    code, out, err = _cli("run", pipeline)
    assert code == 0, out + err
    assert "lookup.txt` has new content" in out
    assert "<content>" not in out


def test_switching_a_parameter_to_data_path_names_the_file_not_a_placeholder(tmp_path):
    pipeline = _project(tmp_path, "copy_plain")
    assert _cli("run", pipeline, "--quiet")[0] == 0
    Path(pipeline).write_text(Path(pipeline).read_text().replace("copy_plain", "copy_declared"))
    code, out, _ = _cli("run", pipeline)
    assert code == 0
    assert "<content>" not in out


def test_a_missing_data_file_is_a_warning_not_an_error(tmp_path):
    pipeline = _project(tmp_path, "copy_declared")
    (tmp_path / "data" / "lookup.txt").unlink()
    code, _, err = _cli("validate", pipeline)
    assert code == 0, err
    assert "lookup.txt' does not exist" in err and "create it before the run" in err


def test_a_missing_ingest_source_is_reported_by_validate(tmp_path):
    pipeline = tmp_path / "pipeline.yaml"
    pipeline.write_text("name: demo\ncomponents:\n  ingest: {type: ingest, params: {source: data/nope.csv}}\n")
    code, _, err = _cli("validate", str(pipeline))
    assert code == 0
    assert "components.ingest.params.source" in err and "'data/nope.csv' does not exist" in err


def test_a_metadata_url_of_an_unknown_database_is_an_error_at_validation(tmp_path):
    pipeline = _project(tmp_path, "copy_declared", metadata="notaurl://x")
    code, _, err = _cli("validate", pipeline)
    assert code == 2
    assert "pipeline.yaml:2:" in err
    assert "cannot keep metadata in a 'notaurl' database" in err and "postgresql://" in err
