"""The importer: a file or folder made outside the pipeline as a typed artifact, checked before anything runs.

These run without the TensorFlow extra (test_pretrained_keras.py fine-tunes an imported Keras network).
"""

from __future__ import annotations

import os
import zipfile

from tests.projects import cli as run
from tests.projects import latest_outputs as outputs

STEPS = '''
import os

from headrace.components import Artifact, Output, component


class Vocabulary(Artifact):
    """Word lists, one file per language."""


class Report(Artifact):
    """Counts."""


@component
def count_words(vocabulary: Vocabulary, report: Output[Report]) -> dict:
    os.makedirs(report.uri)
    words = 0
    for name in sorted(os.listdir(vocabulary.uri)):
        with open(os.path.join(vocabulary.uri, name)) as f:
            words += len(f.read().split())
    return {"words": words}
'''

PIPELINE = """\
name: imports
root: ./runs
metadata: sqlite:///runs/metadata.db
components:
  vocabulary:
    type: importer
    params:
      source: {source}
      artifact_type: {artifact_type}
  count:
    type: steps:count_words
    inputs: {{vocabulary: vocabulary.result}}
"""


def project(folder, source: str = "words", artifact_type: str = "Vocabulary", pipeline: str = PIPELINE) -> str:
    os.makedirs(folder / "words", exist_ok=True)
    (folder / "words" / "en.txt").write_text("one two three\n")
    (folder / "steps.py").write_text(STEPS)
    path = folder / "pipeline.yaml"
    path.write_text(pipeline.format(source=source, artifact_type=artifact_type))
    return str(path)


def line_of(path: str, text: str) -> int:
    with open(path) as f:
        return next(i for i, line in enumerate(f, 1) if text in line)


def test_an_imported_folder_is_an_artifact_of_the_named_type_and_its_content_drives_the_cache(tmp_path):
    pipeline = project(tmp_path)
    code, out = run("run", pipeline)
    assert code == 0, out
    found = outputs(pipeline)
    imported = found["vocabulary"][1]["result"]
    assert imported.type == "Vocabulary"  # a user's artifact type, named in the YAML
    assert os.listdir(imported.uri) == ["en.txt"]  # a folder's content is the artifact's
    assert imported.properties["source"] == "words" and imported.properties["bytes"] == 14
    assert "imported from words (14 bytes)" in run("show", found["count"][0].run_id, "-p", pipeline)[1]
    assert found["count"][0].metrics["words"] == 3

    os.utime(tmp_path / "words" / "en.txt", (1, 1))  # touched, not changed
    assert run("run", pipeline)[0] == 0
    assert {e.state for e, _ in outputs(pipeline).values()} == {"cached"}

    (tmp_path / "words" / "en.txt").write_text("one two three four\n")
    assert run("run", pipeline)[0] == 0
    found = outputs(pipeline)
    assert found["vocabulary"][0].reason == "source `words` has new content"
    assert found["count"][0].reason == "input `vocabulary` has new content"
    assert found["count"][0].metrics["words"] == 4
    with open(os.path.join(imported.uri, "en.txt")) as f:
        assert f.read() == "one two three\n"  # the first artifact is as it was imported: a copy, not a link


def test_a_missing_source_fails_validation_at_its_line_with_the_near_name(tmp_path):
    pipeline = project(tmp_path, source="wrods")
    code, out = run("validate", pipeline)
    assert code == 2, out
    line = line_of(pipeline, "source: wrods")
    assert f"pipeline.yaml:{line}:15: error: no such file or folder 'wrods'" in out
    assert "hint: did you mean 'words'?" in out
    assert not os.path.exists(tmp_path / "runs" / "imports")  # nothing ran

    pipeline = project(tmp_path, source="models/base.keras")
    code, out = run("run", pipeline)  # run validates first
    assert code == 2, out
    assert "no such file or folder 'models/base.keras'" in out
    assert "the folder" in out and "models does not exist either" in out


def test_an_unknown_artifact_type_names_the_near_one(tmp_path):
    code, out = run("validate", project(tmp_path, artifact_type="Vocabulry"))
    assert code == 2, out
    assert "error: unknown artifact type 'Vocabulry'" in out
    assert "hint: did you mean 'Vocabulary'?" in out


def test_the_wiring_is_checked_against_the_imported_type(tmp_path):
    code, out = run("validate", project(tmp_path, artifact_type="Schema"))
    assert code == 2, out
    assert "input 'vocabulary' of component 'count' (steps:count_words) expects Vocabulary" in out
    assert "but 'vocabulary.result' is Schema" in out


def test_a_keras_model_must_be_a_keras_archive(tmp_path):
    trainer_wiring = PIPELINE.split("  count:")[0]
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "base.h5").write_bytes(b"\x89HDF\r\n")
    code, out = run("validate", project(tmp_path, "models/base.h5", "KerasModel", trainer_wiring))
    assert code == 2, out
    assert "'models/base.h5': a KerasModel is a .keras file (Keras 3's format)" in out
    assert "hint: save the network with Keras 3: model.save('base.keras')" in out

    (tmp_path / "models" / "base.keras").write_text("not a zip")
    code, out = run("validate", project(tmp_path, "models/base.keras", "KerasModel", trainer_wiring))
    assert code == 2, out
    assert "'models/base.keras': it is not a Keras 3 .keras archive (a zip file)" in out

    with zipfile.ZipFile(tmp_path / "models" / "base.keras", "w") as archive:
        archive.writestr("saved_model.pb", b"")
    code, out = run("validate", project(tmp_path, "models/base.keras", "KerasModel", trainer_wiring))
    assert code == 2, out
    assert "a zip file without config.json and metadata.json" in out

    code, out = run("validate", project(tmp_path, "models", "KerasModel", trainer_wiring))
    assert code == 2, out
    assert "a KerasModel is one .keras file, and this is a folder" in out


def test_a_source_at_a_uri_is_read_through_pyarrow_fs(tmp_path):
    elsewhere = tmp_path / "bucket" / "vocab"
    elsewhere.mkdir(parents=True)
    (elsewhere / "de.txt").write_text("eins zwei\n")
    pipeline = project(tmp_path / "project", source=f"file://{elsewhere}")
    code, out = run("run", pipeline)
    assert code == 0, out
    found = outputs(pipeline)
    assert os.listdir(found["vocabulary"][1]["result"].uri) == ["de.txt"]
    assert found["count"][0].metrics["words"] == 2


def test_the_trainer_reads_a_base_model_at_a_uri_from_a_local_copy_it_removes(tmp_path):
    from headrace.components.trainer.run import local_copy

    (tmp_path / "base.keras").write_bytes(b"weights")
    with local_copy(f"file://{tmp_path / 'base.keras'}") as path:
        assert path is not None and path != str(tmp_path / "base.keras")
        with open(path, "rb") as f:
            assert f.read() == b"weights"
    assert not os.path.exists(path)
    with local_copy(str(tmp_path / "base.keras")) as same:
        assert same == str(tmp_path / "base.keras")  # a local file is read where it is
