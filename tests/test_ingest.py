"""Ingest on real files: what a user checks after a run."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pydantic import ValidationError

from headrace.components.artifacts import Examples
from headrace.components.contract import Context
from headrace.components.ingest import Ingest, IngestError, IngestParameters, list_source_files

PENGUINS = Path("/work/shared/data/penguins/penguins.csv")
if not PENGUINS.exists():
    PENGUINS = Path(__file__).resolve().parents[1] / "examples" / "penguin" / "data" / "penguins.csv"


def run_ingest(tmp_path: Path, out: str = "out", **params) -> Examples:
    ctx = Context(
        component="ingest",
        inputs={},
        outputs={"examples": Examples(uri=str(tmp_path / out))},
        params=IngestParameters(**params),
        log=logging.getLogger("test.ingest"),
        base_dir=str(tmp_path),
    )
    Ingest().run(ctx)
    return ctx.outputs["examples"]


@pytest.fixture
def penguins(tmp_path: Path) -> Path:
    target = tmp_path / "data" / "penguins.csv"
    target.parent.mkdir()
    shutil.copy(PENGUINS, target)
    return target


def all_rows(examples: Examples) -> pa.Table:
    return pa.concat_tables([examples.to_table(s) for s in examples.splits])


def test_penguins_split_about_80_20_with_nulls_and_schema(tmp_path, penguins):
    examples = run_ingest(tmp_path, source="data/penguins.csv")
    counts = examples.properties["row_counts"]
    assert examples.splits == ["train", "eval"]
    assert sum(counts.values()) == 344
    assert 0.7 < counts["train"] / 344 < 0.9
    assert (tmp_path / "out" / "Split-train" / "part-00000-00000.parquet").exists()
    table = all_rows(examples)
    assert table.num_rows == 344
    assert table.column("sex").null_count == 11
    assert table.column("body_mass_g").null_count == 2
    schema = {c["name"]: c["type"] for c in examples.properties["schema"]}
    assert schema["species"] == "string" and schema["bill_length_mm"] == "double"
    assert schema["body_mass_g"] == "int64"
    assert examples.properties["source"] == [str(penguins)]
    assert examples.properties["bad_rows"] == {"count": 0, "examples": []}
    json.dumps(examples.properties)


def test_same_input_gives_byte_identical_files(tmp_path, penguins):
    a = run_ingest(tmp_path, "a", source=str(penguins))
    b = run_ingest(tmp_path, "b", source=str(penguins), block_size=2048)  # batching must not matter
    files_a = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*.parquet"))
    files_b = sorted(p.relative_to(tmp_path / "b") for p in (tmp_path / "b").rglob("*.parquet"))
    assert files_a == files_b
    for f in files_a:
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes()
    assert a.properties["row_counts"] == b.properties["row_counts"]


def test_split_key_keeps_each_key_in_one_split(tmp_path, penguins):
    examples = run_ingest(
        tmp_path, source=str(penguins), split_key="island", block_size=1024, splits={"a": 1, "b": 1, "c": 1}
    )
    seen: dict[str, str] = {}
    for split in examples.splits:
        for island in set(examples.to_table(split).column("island").to_pylist()):
            assert seen.setdefault(island, split) == split
    assert sum(examples.properties["row_counts"].values()) == 344


def test_presplit_sources(tmp_path, penguins):
    lines = penguins.read_text().splitlines(keepends=True)
    (tmp_path / "train.csv").write_text("".join(lines[:301]))
    (tmp_path / "test.csv").write_text(lines[0] + "".join(lines[301:]))
    examples = run_ingest(tmp_path, source={"train": "train.csv", "test": "test.csv"})
    assert examples.splits == ["train", "test"]
    assert examples.properties["row_counts"] == {"train": 300, "test": 44}
    with pytest.raises(ValidationError, match="splits must not be set"):
        IngestParameters(source={"train": "a.csv"}, splits={"train": 1})


def test_parquet_and_jsonl_sources(tmp_path, penguins):
    import pyarrow.csv as csv

    table = csv.read_csv(penguins, convert_options=csv.ConvertOptions(strings_can_be_null=True))
    pq.write_table(table, tmp_path / "p.parquet")
    examples = run_ingest(tmp_path, "pq", source="p.parquet")
    assert sum(examples.properties["row_counts"].values()) == 344
    assert all_rows(examples).schema.field("body_mass_g").type == pa.int64()

    with open(tmp_path / "p.jsonl", "w") as out:
        for row in table.to_pylist():
            out.write(json.dumps(row) + "\n")
    examples = run_ingest(tmp_path, "js", source="p.jsonl", block_size=4096)
    rows = all_rows(examples)
    assert rows.num_rows == 344
    assert rows.column("sex").null_count == 11


def test_directory_and_glob_sources(tmp_path, penguins):
    lines = penguins.read_text().splitlines(keepends=True)
    parts = tmp_path / "parts"
    parts.mkdir()
    for i, start in enumerate(range(1, 345, 100)):
        (parts / f"part-{i}.csv").write_text(lines[0] + "".join(lines[start : start + 100]))
    (parts / "_SUCCESS").write_text("")
    (parts / "README.txt").write_text("not data")
    expected = [str(parts / f"part-{i}.csv") for i in range(4)]
    assert list_source_files(str(parts), None) == expected
    assert list_source_files(str(parts / "part-[12].csv"), "csv") == expected[1:3]
    examples = run_ingest(tmp_path, "dir", source="parts")
    assert sum(examples.properties["row_counts"].values()) == 344
    examples = run_ingest(tmp_path, "glob", source="parts/*.csv")
    assert sum(examples.properties["row_counts"].values()) == 344
    assert examples.properties["files"] == expected


def test_column_types_override_inference(tmp_path, penguins):
    examples = run_ingest(tmp_path, source=str(penguins), column_types={"year": "string", "body_mass_g": "double"})
    rows = all_rows(examples)
    assert rows.schema.field("year").type == pa.string()
    assert rows.schema.field("body_mass_g").type == pa.float64()
    with pytest.raises(ValidationError, match=r"not an Arrow type name.*int64"):
        IngestParameters(source="x.csv", column_types={"year": "integer"})
    with pytest.raises(IngestError, match=r"'nope'.*not a column"):
        run_ingest(tmp_path, "bad", source=str(penguins), column_types={"nope": "int64"})


def _with_bad_value(penguins: Path) -> Path:
    lines = penguins.read_text().splitlines(keepends=True)
    lines[300] = lines[300].replace(lines[300].split(",")[5], "heavy")
    path = penguins.with_name("bad.csv")
    path.write_text("".join(lines))
    return path


def test_bad_value_error_names_file_line_column_and_fix(tmp_path, penguins):
    bad = _with_bad_value(penguins)
    with pytest.raises(IngestError) as err:
        run_ingest(tmp_path, source=str(bad), column_types={"body_mass_g": "double"})
    message = str(err.value)
    assert f"{bad}:301:" in message
    assert "'body_mass_g' (#6)" in message and "'heavy' is not a double" in message
    assert "column_types: {body_mass_g: string}" in message and "on_bad_rows: skip" in message
    # inferred from the first block (here 2 KiB) rather than given
    with pytest.raises(IngestError, match=r"bad.csv:301: error: column 'body_mass_g'.*not a int64"):
        run_ingest(tmp_path, "b", source=str(bad), block_size=2048)


def test_bad_value_skip_is_counted_reported_and_logged(tmp_path, penguins, caplog):
    bad = _with_bad_value(penguins)
    with caplog.at_level(logging.WARNING, logger="test.ingest"):
        examples = run_ingest(tmp_path, source=str(bad), column_types={"body_mass_g": "double"}, on_bad_rows="skip")
    assert sum(examples.properties["row_counts"].values()) == 343
    report = examples.properties["bad_rows"]
    assert report["count"] == 1
    assert report["examples"][0] == {
        "file": str(bad),
        "line": 301,
        "column": "body_mass_g",
        "value": "heavy",
        "reason": "column 'body_mass_g' (#6): 'heavy' is not a double",
    }
    assert "bad.csv:301" in caplog.text


def test_ragged_lines(tmp_path, penguins):
    lines = penguins.read_text().splitlines(keepends=True)
    lines[10] = "Adelie,Torgersen,1,2\n"
    lines.insert(20, "\n")  # blank lines are ignored but still count as lines
    ragged = tmp_path / "ragged.csv"
    ragged.write_text("".join(lines))
    with pytest.raises(IngestError, match=r"ragged.csv:11: error: expected 8 fields, found 4"):
        run_ingest(tmp_path, source=str(ragged))
    examples = run_ingest(tmp_path, "skip", source=str(ragged), on_bad_rows="skip")
    assert sum(examples.properties["row_counts"].values()) == 343
    assert examples.properties["bad_rows"]["examples"][0]["line"] == 11


def test_bad_line_after_blank_line_gets_physical_line_number(tmp_path, penguins):
    lines = penguins.read_text().splitlines(keepends=True)
    lines.insert(5, "\n")
    lines[100] = lines[100].replace(lines[100].split(",")[2], "long")
    path = tmp_path / "blank.csv"
    path.write_text("".join(lines))
    with pytest.raises(IngestError, match=r"blank.csv:101: error: column 'bill_length_mm'"):
        run_ingest(tmp_path, source=str(path), column_types={"bill_length_mm": "double"})


def test_unknown_format_and_empty_files(tmp_path):
    (tmp_path / "data.xlsx").write_text("a,b\n1,2\n")
    with pytest.raises(IngestError, match=r"cannot tell the format.*set format"):
        run_ingest(tmp_path, source="data.xlsx")
    examples = run_ingest(tmp_path, "fmt", source="data.xlsx", format="csv")
    assert sum(examples.properties["row_counts"].values()) == 1
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(IngestError, match=r"empty\.csv is empty"):
        run_ingest(tmp_path, "e1", source="empty.csv")
    (tmp_path / "header.csv").write_text("a,b\n")
    with pytest.raises(IngestError, match="no rows"):
        run_ingest(tmp_path, "e2", source="header.csv")
    with pytest.raises(IngestError, match="does not exist"):
        run_ingest(tmp_path, "e3", source="missing.csv")


def test_mismatched_schemas_across_files(tmp_path):
    d = tmp_path / "d"
    d.mkdir()
    (d / "a.csv").write_text("x,y\n1,2\n")
    (d / "b.csv").write_text("x,z\n3,4\n")
    with pytest.raises(IngestError, match=r"b.csv does not match .*a.csv: column 'z'"):
        run_ingest(tmp_path, source="d")
    p = tmp_path / "p"
    p.mkdir()
    pq.write_table(pa.table({"x": [1, 2]}), p / "a.parquet")
    pq.write_table(pa.table({"x": ["u", "v"]}), p / "b.parquet")
    with pytest.raises(IngestError, match=r"column 'x' is string there but int64"):
        run_ingest(tmp_path, "p", source="p")


def test_rolling_part_files(tmp_path, penguins):
    examples = run_ingest(tmp_path, source=str(penguins), rows_per_file=50, splits={"all": 1})
    parts = sorted((tmp_path / "out" / "Split-all").glob("part-*.parquet"))
    assert [p.name for p in parts][:2] == ["part-00000-00000.parquet", "part-00000-00001.parquet"]
    assert [pq.ParquetFile(p).metadata.num_rows for p in parts] == [50] * 6 + [44]
    assert examples.to_table("all").num_rows == 344


def test_empty_split_still_has_a_readable_part(tmp_path):
    (tmp_path / "one.csv").write_text("a\n1\n")
    examples = run_ingest(tmp_path, source="one.csv", splits={"x": 1, "y": 1})
    assert sum(examples.properties["row_counts"].values()) == 1
    for split in examples.splits:
        assert examples.to_table(split).schema.names == ["a"]


# -- engines ----------------------------------------------------------------------

ROOT = Path(__file__).resolve().parents[1]


def run_with(tmp_path: Path, out: str, engine: str, beam_options: dict | None = None, **params) -> Examples:
    ctx = Context(
        component="ingest",
        inputs={},
        outputs={"examples": Examples(uri=str(tmp_path / out))},
        params=IngestParameters(engine=engine, **params),
        beam_options=beam_options or {"runner": "DirectRunner"},
        log=logging.getLogger("test.ingest"),
        base_dir=str(tmp_path),
    )
    Ingest().run(ctx)
    return ctx.outputs["examples"]


def file_hashes(root: Path) -> dict[str, str]:
    """Every file below ``root`` (not only Parquet: no scratch may be left behind) by its SHA-256."""
    import hashlib

    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def parts(tmp_path: Path, penguins: Path) -> Path:
    """The penguins as four CSV files of 100, 100, 100 and 44 rows."""
    lines = penguins.read_text().splitlines(keepends=True)
    directory = tmp_path / "parts"
    directory.mkdir()
    for i, start in enumerate(range(1, 345, 100)):
        (directory / f"part-{i}.csv").write_text(lines[0] + "".join(lines[start : start + 100]))
    return directory


def test_beam_engine_writes_the_bytes_of_the_in_process_engine(tmp_path, penguins, parts):
    for name, params in {
        "csv": {"source": str(penguins), "rows_per_file": 100},
        "dir": {"source": "parts", "rows_per_file": 40, "splits": {"a": 3, "b": 1, "c": 1}},
    }.items():
        local = run_with(tmp_path, f"{name}-local", "in_process", **params)
        beam = run_with(tmp_path, f"{name}-beam", "beam", **params)
        assert (local.properties["engine"], beam.properties["engine"]) == ("in_process", "beam")
        hashes = file_hashes(tmp_path / f"{name}-local")
        assert hashes == file_hashes(tmp_path / f"{name}-beam")
        run_with(tmp_path, f"{name}-again", "beam", **params)
        assert hashes == file_hashes(tmp_path / f"{name}-again")
        del beam.properties["engine"], local.properties["engine"]
        assert beam.properties == local.properties
        assert sum(local.properties["row_counts"].values()) == 344
    # sorted part files are the row order: source file, then roll
    names = sorted(file_hashes(tmp_path / "dir-local"))
    assert names[:3] == [
        "Split-a/part-00000-00000.parquet",
        "Split-a/part-00000-00001.parquet",
        "Split-a/part-00001-00000.parquet",
    ]
    rows = pa.concat_tables([pq.read_table(tmp_path / "dir-local" / n) for n in names if n.startswith("Split-a/")])
    assert rows.equals(
        run_with(
            tmp_path, "dir-one", "in_process", source="parts", rows_per_file=10**6, splits={"a": 3, "b": 1, "c": 1}
        ).to_table("a")
    )


def test_auto_engine_is_in_process_for_small_data_on_the_direct_runner(tmp_path, penguins):
    from headrace.components.ingest.ingestion import choose_engine

    files = [str(penguins)]
    assert choose_engine("auto", files, 2 << 30, "DirectRunner") == "in_process"
    assert choose_engine("auto", files, 1000, "DirectRunner") == "beam"  # penguins.csv is ~17 KB
    assert choose_engine("auto", files, 2 << 30, "DaskRunner") == "beam"
    assert choose_engine("in_process", files, 0, "DaskRunner") == "in_process"
    examples = run_with(tmp_path, "auto", "auto", source=str(penguins))
    assert examples.properties["engine"] == "in_process"


def test_bad_rows_are_the_same_on_both_engines(tmp_path, penguins, parts):
    lines = (parts / "part-1.csv").read_text().splitlines(keepends=True)
    lines[5] = lines[5].replace(lines[5].split(",")[5], "heavy")
    lines[7] = "Adelie,Torgersen,1,2\n"
    (parts / "part-1.csv").write_text("".join(lines))
    lines = (parts / "part-3.csv").read_text().splitlines(keepends=True)
    lines[2] = lines[2].replace(lines[2].split(",")[5], "light")
    (parts / "part-3.csv").write_text("".join(lines))
    params = {"source": "parts", "column_types": {"body_mass_g": "double"}, "on_bad_rows": "skip"}
    local = run_with(tmp_path, "local", "in_process", **params)
    beam = run_with(tmp_path, "beam", "beam", **params)
    assert local.properties["bad_rows"] == beam.properties["bad_rows"]
    assert local.properties["bad_rows"]["count"] == 3
    assert [(e["file"], e["line"]) for e in beam.properties["bad_rows"]["examples"]] == [  # file order
        (str(parts / "part-1.csv"), 8),
        (str(parts / "part-1.csv"), 6),
        (str(parts / "part-3.csv"), 3),
    ]
    assert sum(beam.properties["row_counts"].values()) == 341
    assert file_hashes(tmp_path / "local") == file_hashes(tmp_path / "beam")
    params["on_bad_rows"] = "error"
    messages = []
    for engine in ("in_process", "beam"):
        with pytest.raises(IngestError) as err:
            run_with(tmp_path, f"error-{engine}", engine, **params)
        messages.append(str(err.value))
    assert messages[0] == messages[1] and "part-1.csv:8: error: expected 8 fields, found 4" in messages[0]


@pytest.mark.timeout(180)
def test_dask_runner_writes_the_bytes_of_the_in_process_engine(tmp_path, parts, dask_cluster):
    options = {"runner": "DaskRunner", "dask_client_address": dask_cluster.scheduler_address}
    params = {"source": "parts", "rows_per_file": 40}
    local = run_with(tmp_path, "local", "in_process", **params)
    dask = run_with(tmp_path, "dask", "auto", beam_options=options, **params)
    assert dask.properties["engine"] == "beam"
    assert file_hashes(tmp_path / "dask") == file_hashes(tmp_path / "local")
    assert dask.properties["row_counts"] == local.properties["row_counts"]


def _latin1_file(tmp_path: Path, good_rows: int) -> Path:
    path = tmp_path / "latin1.csv"
    rows = "".join(f"n{i},{i}\n" for i in range(good_rows))
    path.write_bytes(b"name,value\n" + rows.encode() + b"caf\xe9,5\nlast,6\n")
    return path


def test_text_that_is_not_utf8_is_a_bad_row_with_its_line(tmp_path):
    source = _latin1_file(tmp_path, 3000)  # past the first block, so the column is typed as text
    with pytest.raises(IngestError) as error:
        run_ingest(tmp_path, source=str(source), block_size=1024)
    message = str(error.value)
    assert f"{source}:3002" in message and "not valid UTF-8" in message
    assert "column_types: {name: binary}" in message and "on_bad_rows: skip" in message

    examples = run_ingest(tmp_path, out="skipped", source=str(source), block_size=1024, on_bad_rows="skip")
    assert examples.properties["bad_rows"]["count"] == 1
    assert all_rows(examples).num_rows == 3001


def test_undecodable_bytes_in_the_first_block_keep_the_column_binary(tmp_path):
    examples = run_ingest(tmp_path, source=str(_latin1_file(tmp_path, 3)))
    types = {f["name"]: f["type"] for f in examples.properties["schema"]}
    assert types["name"] == "binary"
    assert b"caf\xe9" in all_rows(examples).column("name").to_pylist()
