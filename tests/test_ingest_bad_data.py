"""Ingest on broken data: no row is lost silently, every problem is named at its line with the fix.

Unclosed CSV quotes, JSON Lines that are not JSON or disagree on types, text
in another encoding; each through the real component on real files, on both
engines, with counts that add up (rows read + bad rows = data lines).
"""

from __future__ import annotations

import io
import json
import logging
import random
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as csv
import pytest

from headrace.components.ingest import IngestError
from headrace.components.ingest.csv_chunks import (
    CsvChunks,
    RunawayQuote,
    _spans_by_loop,
    quoted_spans,
    quotes_close_on_their_line,
)
from headrace.components.ingest.text_chunks import TextChunk
from tests.projects import NO_TERMINAL, headrace, headrace_on_a_terminal, make_project
from tests.test_ingest import file_hashes, run_with


def rows_of(examples) -> int:
    return sum(examples.properties["row_counts"].values())


def both_engines(tmp_path: Path, name: str, **params):
    """The same ingest in-process and on Beam; asserts identical files and properties, returns one."""
    local = run_with(tmp_path, f"{name}-local", "in_process", **params)
    beam = run_with(tmp_path, f"{name}-beam", "beam", **params)
    assert file_hashes(tmp_path / f"{name}-local") == file_hashes(tmp_path / f"{name}-beam")
    del local.properties["engine"], beam.properties["engine"]
    assert local.properties == beam.properties
    return local


def errors_on_both_engines(tmp_path: Path, name: str, **params) -> str:
    messages = []
    for engine in ("in_process", "beam"):
        with pytest.raises(IngestError) as error:
            run_with(tmp_path, f"{name}-{engine}", engine, **params)
        messages.append(str(error.value))
    assert messages[0] == messages[1]
    return messages[0]


# -- CSV: quotes ------------------------------------------------------------------------------


def _numbers_csv(path: Path, rows: int, broken: dict[int, str]) -> Path:
    """``a,b,c`` and ``rows`` rows; ``broken`` replaces the row on a given physical line (header = 1)."""
    lines = ["a,b,c"] + [f"{i},name {i},{i * 2}" for i in range(rows)]
    for line, text in broken.items():
        lines[line - 1] = text
    path.write_text("\n".join(lines) + "\n")
    return path


def test_unclosed_quote_is_an_error_at_the_line_where_it_opened(tmp_path):
    _numbers_csv(tmp_path / "stray2.csv", 1000, {501: '499,"oops, forgot to close'})
    message = errors_on_both_engines(tmp_path, "err", source="stray2.csv")
    assert message.startswith(f"{tmp_path / 'stray2.csv'}:501: error: the quoted value that opens here")
    assert '("oops, forgot to close) is never closed: it runs to the end of the file' in message
    assert 'close the quote (a quote inside a quoted value is written "")' in message
    assert "on_bad_rows: skip" in message


def test_unclosed_quote_skipped_costs_exactly_its_row(tmp_path):
    _numbers_csv(tmp_path / "stray.csv", 1000, {10: '8,"oops, forgot to close'})
    examples = both_engines(tmp_path, "skip", source="stray.csv", on_bad_rows="skip")
    assert rows_of(examples) == 999  # + 1 bad row = 1000 data lines
    report = examples.properties["bad_rows"]
    assert report["count"] == 1
    assert report["examples"][0]["line"] == 10
    assert report["examples"][0]["value"] == '8,"oops, forgot to close'
    names = pa.concat_tables([examples.to_table(s) for s in examples.splits]).column("b").to_pylist()
    assert "name 9" in names and "name 999" in names


def test_the_smallest_unclosed_quote(tmp_path):
    (tmp_path / "s.csv").write_text('a,b\n1,"unclosed\n2,3\n')
    with pytest.raises(
        IngestError, match=r"s.csv:2: error: the quoted value that opens here \(\"unclosed\) is never closed"
    ):
        run_with(tmp_path, "err", "in_process", source="s.csv")
    examples = both_engines(tmp_path, "skip", source="s.csv", on_bad_rows="skip", splits={"all": 1})
    assert examples.to_table("all").to_pylist() == [{"a": 2, "b": 3}]
    assert examples.properties["bad_rows"]["count"] == 1


def test_a_quote_closed_on_a_later_line_costs_only_its_own_row(tmp_path):
    """The stray quote meets the next quoted value: one row swallows lines and has too many fields."""
    broken = {10: '8,"oops, forgot to close', 14: '12,"Smith, J.",24'}
    _numbers_csv(tmp_path / "w.csv", 300, broken)
    message = errors_on_both_engines(tmp_path, "err", source="w.csv", block_size=1024)
    assert message.startswith(f"{tmp_path / 'w.csv'}:10: error: expected 3 fields, found 4 in the row that starts here")
    assert "runs to line 14" in message and "a quote on this line is not closed" in message
    for block_size in (1024, 1 << 20):
        examples = both_engines(
            tmp_path, f"skip{block_size}", source="w.csv", on_bad_rows="skip", block_size=block_size
        )
        assert rows_of(examples) == 299  # + 1 bad row = 300 data lines
        assert [e["line"] for e in examples.properties["bad_rows"]["examples"]] == [10]
        names = pa.concat_tables([examples.to_table(s) for s in examples.splits]).column("b").to_pylist()
        assert "name 9" in names and "Smith, J." in names


def test_a_quoted_value_over_max_value_lines_is_a_bad_row(tmp_path):
    long_value = '"' + "\n".join(f"line {i}" for i in range(6)) + '"'  # spans 6 lines
    body = f"a,b\n1,x\n2,{long_value}\n3,y\n"
    (tmp_path / "long.csv").write_text(body)
    examples = run_with(tmp_path, "ok", "in_process", source="long.csv", splits={"all": 1})  # default limit 1000
    assert examples.to_table("all").column("b").to_pylist() == ["x", long_value[1:-1], "y"]

    message = errors_on_both_engines(tmp_path, "limit", source="long.csv", max_value_lines=5)
    assert "long.csv:3: error: the quoted value that opens here" in message
    assert "spans more than 5 lines (max_value_lines)" in message and "raise max_value_lines" in message
    # skipped: the row up to the quote's line goes; the value's other lines are read as rows of their own
    examples = both_engines(tmp_path, "skip", source="long.csv", max_value_lines=5, on_bad_rows="skip")
    assert examples.properties["bad_rows"]["examples"][0]["line"] == 3


def test_multiline_values_keep_line_numbers_and_do_not_depend_on_block_size(tmp_path):
    rows = ["id,text,n"]
    for i in range(400):
        text = f'"row {i}\nsecond line, with a comma\nand ""quotes"""' if i % 7 == 0 else f"plain {i}"
        rows.append(f"{i},{text},{i}")
    rows.append("400,5'10\",oops")  # a literal quote in an unquoted field; 'oops' is not an int
    path = tmp_path / "multi.csv"
    path.write_text("\n".join(rows) + "\n")
    physical = path.read_text().count("\n")  # the bad row is on the last line
    with pytest.raises(IngestError, match=rf"multi.csv:{physical}: error: column 'n' \(#3\): 'oops' is not a int64"):
        run_with(tmp_path, "err", "in_process", source="multi.csv", block_size=1024)
    params = {"source": "multi.csv", "on_bad_rows": "skip", "column_types": {"n": "int64"}}
    small = both_engines(tmp_path, "small", block_size=1024, **params)
    run_with(tmp_path, "large", "in_process", **params)
    assert file_hashes(tmp_path / "small-local") == file_hashes(tmp_path / "large")
    assert rows_of(small) == 400 and small.properties["bad_rows"]["examples"][0]["line"] == physical
    texts = pa.concat_tables([small.to_table(s) for s in small.splits]).column("text").to_pylist()
    assert 'row 7\nsecond line, with a comma\nand "quotes"' in texts


def test_quoted_spans_follow_pyarrow(tmp_path):
    """The vectorised scan, the exact loop and pyarrow's parser agree on random quoted CSV."""
    rng = random.Random(7)
    pieces = ["a", "b c", "", '"q"', '"x,y"', '"two\nlines"', '"say ""hi"""', "5'10\"", 'a"b', '""']
    for _ in range(300):
        rows = [",".join(rng.choice(pieces) for _ in range(3)) for _ in range(rng.randint(1, 8))]
        data = ("\n".join(rows) + "\n").encode()
        starts, ends = quoted_spans(data, ",")
        arr = np.frombuffer(data, dtype=np.uint8)
        loop = _spans_by_loop(arr, np.flatnonzero(arr == ord('"')), ord(","))
        assert starts.tolist() == loop[0].tolist() and ends.tolist() == loop[1].tolist()
        if quotes_close_on_their_line(data, ","):  # the fast check may only say yes when it is true
            assert all(b"\n" not in data[a:b] for a, b in zip(starts, ends, strict=True))
        expected = csv.read_csv(
            io.BytesIO(data),
            read_options=csv.ReadOptions(column_names=["x", "y", "z"]),
            parse_options=csv.ParseOptions(newlines_in_values=True),
            convert_options=csv.ConvertOptions(column_types=dict.fromkeys("xyz", pa.string())),
        )
        for block_size in (1, 7, 64):
            chunks = list(CsvChunks(io.BytesIO(data), block_size, ",", 1000))
            assert all(isinstance(c, TextChunk) for c in chunks)
            assert b"".join(c.data for c in chunks) == data
            offsets = np.cumsum([0] + [len(c.data) for c in chunks])[:-1]
            assert [c.first_line for c in chunks] == [1 + data.count(b"\n", 0, int(o)) for o in offsets]
            parsed = [
                csv.read_csv(
                    io.BytesIO(c.data),
                    read_options=csv.ReadOptions(column_names=["x", "y", "z"]),
                    parse_options=csv.ParseOptions(newlines_in_values=True),
                    convert_options=csv.ConvertOptions(column_types=dict.fromkeys("xyz", pa.string())),
                )
                for c in chunks
            ]
            assert pa.concat_tables(parsed).equals(expected)


def test_runaway_quotes_are_found_whatever_the_block_size():
    data = b'1,"a\nb"\n2,"never\n3,x\n4,y\n'
    for block_size in (1, 3, 100):
        items = list(CsvChunks(io.BytesIO(data), block_size, ",", 1000))
        runaways = [i for i in items if isinstance(i, RunawayQuote)]
        assert [(r.line, r.text) for r in runaways] == [(3, b'2,"never')]
        assert b"".join(i.data for i in items if isinstance(i, TextChunk)) == b'1,"a\nb"\n3,x\n4,y\n'


# -- JSON Lines -----------------------------------------------------------------------------


def test_jsonl_mixed_types_name_the_line_and_column_types_fix_them(tmp_path):
    (tmp_path / "m.jsonl").write_text('{"a":1}\n{"a":"two"}\n')
    message = errors_on_both_engines(tmp_path, "err", source="m.jsonl")
    assert message == (
        f"{tmp_path / 'm.jsonl'}:2: error: column 'a' (#1): 'two' is not a int64\n  hint: fix the row, "
        "set column_types: {a: string}, or set on_bad_rows: skip"
    )
    examples = both_engines(tmp_path, "typed", source="m.jsonl", column_types={"a": "string"}, splits={"all": 1})
    assert examples.to_table("all").to_pylist() == [{"a": "1"}, {"a": "two"}]
    examples = both_engines(tmp_path, "skip", source="m.jsonl", on_bad_rows="skip", splits={"all": 1})
    assert examples.to_table("all").to_pylist() == [{"a": 1}]
    assert examples.properties["bad_rows"]["examples"][0]["line"] == 2


def test_jsonl_lines_that_are_not_objects_are_bad_rows(tmp_path, caplog):
    lines = ['{"a":1}', "not json", "[1,2]", "5", '{"a":3}', "", '{"a":{"x":1}}', '{"a":4}']
    (tmp_path / "k.jsonl").write_text("\n".join(lines) + "\n")
    message = errors_on_both_engines(tmp_path, "err", source="k.jsonl")
    assert message.startswith(f"{tmp_path / 'k.jsonl'}:2: error: not valid JSON (")
    assert "fix the line (one JSON object per line), or set on_bad_rows: skip" in message
    with caplog.at_level(logging.WARNING, logger="test.ingest"):
        examples = both_engines(tmp_path, "skip", source="k.jsonl", on_bad_rows="skip", splits={"all": 1})
    assert examples.to_table("all").column("a").to_pylist() == [1, 3, 4]
    report = examples.properties["bad_rows"]
    assert report["count"] == 4  # 3 rows + 4 bad = 7 data lines (the blank line is none)
    assert [(e["line"], e["reason"].split(" (")[0]) for e in report["examples"]] == [
        (2, "not valid JSON"),
        (3, "a JSON array, not an object"),
        (4, "a JSON number, not an object"),
        (7, "column 'a'"),
    ]
    assert "is a struct<x: int64>, not a int64" in report["examples"][3]["reason"]
    assert "k.jsonl:3: a JSON array" in caplog.text


def test_jsonl_file_of_no_json_names_its_first_line(tmp_path):
    (tmp_path / "n.jsonl").write_text("id,name\n1,x\n")
    with pytest.raises(IngestError, match=r"n.jsonl:1: error: not valid JSON \(.*\)\n  hint: fix the line"):
        run_with(tmp_path, "err", "in_process", source="n.jsonl")


# -- encodings ------------------------------------------------------------------------------


def _latin1(path: Path) -> Path:
    path.write_bytes(b"name,value\nn0,0\ncaf\xe9,5\nlast,6\n")
    return path


def test_text_that_is_not_utf8_warns_and_encoding_decodes_it(tmp_path, caplog):
    _latin1(tmp_path / "l.csv")
    with caplog.at_level(logging.WARNING, logger="test.ingest"):
        examples = both_engines(tmp_path, "raw", source="l.csv", splits={"all": 1})
    warning = (
        f"{tmp_path / 'l.csv'}:3: column 'name' is not valid utf-8 text (b'caf\\xe9'), so it is ingested as "
        "binary (raw bytes); set encoding: to the file's encoding (e.g. encoding: latin-1) to read it as text, "
        "or column_types: {name: binary} to keep the bytes"
    )
    assert examples.properties["warnings"] == [warning]
    assert warning in caplog.text
    examples = both_engines(tmp_path, "latin1", source="l.csv", encoding="latin-1", splits={"all": 1})
    assert examples.properties["warnings"] == []
    assert examples.to_table("all").column("name").to_pylist() == ["n0", "café", "last"]
    kept = run_with(tmp_path, "kept", "in_process", source="l.csv", column_types={"name": "binary"})
    assert kept.properties["warnings"] == []

    (tmp_path / "l.jsonl").write_bytes(json.dumps({"name": "café"}).encode().replace(b"\\u00e9", b"\xe9") + b"\n")
    examples = run_with(tmp_path, "json", "in_process", source="l.jsonl", encoding="latin-1", splits={"all": 1})
    assert examples.to_table("all").column("name").to_pylist() == ["café"]


def _latin1_project(tmp_path: Path) -> str:
    """The demo project reduced to its ingest, reading a CSV file whose `name` column is Latin-1."""
    pipeline = make_project(str(tmp_path))
    _latin1(tmp_path / "data" / "penguins.csv")
    text = Path(pipeline).read_text().replace("splits: {train: 8, eval: 2}", "splits: {train: 1}")
    Path(pipeline).write_text(text.split("  count:")[0])
    return pipeline


def _summary_warning(tmp_path: Path) -> str:
    """The warning as the run summary says it, under the table: the component, the output, the file and line."""
    return f"warning: ingest.examples: {tmp_path / 'data' / 'penguins.csv'}:3: column 'name' is not valid utf-8 text"


def test_encoding_warning_shows_in_the_run_and_in_show(tmp_path):
    pipeline = _latin1_project(tmp_path)
    run = headrace("run", pipeline)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "column 'name' is not valid utf-8 text" in run.stdout
    assert _summary_warning(tmp_path) in run.stdout.split("\ncomponent ")[1]  # in the summary, after the table
    run_id = run.stdout.split("run ")[1].split()[0]
    shown = headrace("show", run_id, "-p", pipeline)
    assert "warning: " in shown.stdout and "penguins.csv:3: column 'name' is not valid utf-8" in shown.stdout


def test_the_run_summary_repeats_warnings_on_a_terminal_and_with_quiet(tmp_path):
    """A live view overwrites the progress note that said the warning; the summary says it again, in every view."""
    pipeline = _latin1_project(tmp_path)
    quiet = headrace("run", pipeline, "--quiet")
    assert quiet.returncode == 0, quiet.stdout + quiet.stderr
    assert _summary_warning(tmp_path) in quiet.stdout
    cached = headrace("run", pipeline, "--quiet")  # the reused artifact still holds the raw bytes: still said
    assert "1 cached" in cached.stdout and _summary_warning(tmp_path) in cached.stdout
    if NO_TERMINAL:
        pytest.skip("needs util-linux `script` to give the run a terminal")
    returncode, screen = headrace_on_a_terminal("run", "--no-cache", pipeline, typescript=str(tmp_path / "typescript"))
    assert returncode == 0, screen
    assert "\x1b[" in screen  # it was the live view
    assert _summary_warning(tmp_path) in screen


def test_an_unknown_encoding_is_refused_before_anything_runs():
    from pydantic import ValidationError

    from headrace.components.ingest import IngestParameters

    with pytest.raises(ValidationError, match="'latin-9x' is not a text encoding"):
        IngestParameters(source="x.csv", encoding="latin-9x")


# -- Parquet ---------------------------------------------------------------------------------


def test_a_bad_parquet_row_is_named_by_its_row_number(tmp_path, caplog):
    """Parquet has no lines: the problem is at the file, and the message says which row."""
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"a": ["1", "2", "x", "4"]}), tmp_path / "p.parquet")
    message = errors_on_both_engines(tmp_path, "err", source="p.parquet", column_types={"a": "int64"})
    assert message == (
        f"{tmp_path / 'p.parquet'}: error: row 3: column 'a' (#1): 'x' is not a int64\n"
        "  hint: fix the row, set column_types: {a: string}, or set on_bad_rows: skip"
    )
    with caplog.at_level(logging.WARNING, logger="test.ingest"):
        examples = run_with(
            tmp_path, "skip", "in_process", source="p.parquet", column_types={"a": "int64"}, on_bad_rows="skip"
        )
    assert rows_of(examples) == 3
    assert f"skipped bad row {tmp_path / 'p.parquet'}: row 3: column 'a'" in caplog.text
