"""The transform component on real Parquet files, real Beam pipelines and a real dask cluster.

What a user relies on: analyzers see the train split only; the transformed
examples and the TransformGraph are the same on every engine; the graph loads
on its own and gives the same values, row for row; bad input fails with the
op (or user line), the column and the fix.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pytest

from headrace.components import TransformGraph
from headrace.components.artifacts import Examples, Schema
from headrace.components.contract import Context
from headrace.components.transform.component import TransformComponent
from headrace.components.transform.scope import TransformError
from headrace.components.transform.spec import TransformParameters
from tests.examples_files import PENGUINS, penguin_examples, penguin_table, write_examples

ROOT = Path(__file__).resolve().parents[1]
MEASUREMENTS = {"type": "numeric", "pattern": "_(mm|g)$"}
PENGUIN_OPS = [
    {"fill_missing": {"select": MEASUREMENTS, "strategy": "mean"}},
    {"scale_to_z_score": {"select": MEASUREMENTS}},
    {"compute_and_apply_vocabulary": {"select": {"type": "categorical", "exclude": ["species"]}}},
]


@pytest.fixture
def penguins(tmp_path: Path) -> Examples:
    return penguin_examples(tmp_path / "examples")


def run_transform(
    examples: Examples,
    out: Path,
    beam_options: dict | None = None,
    schema: Schema | None = None,
    base_dir: str = ".",
    **params,
) -> tuple[Examples, TransformGraph]:
    params.setdefault("ops", PENGUIN_OPS)
    ctx = Context(
        component="transform",
        inputs={"examples": examples, "schema": schema},
        outputs={
            "transformed_examples": Examples(uri=str(out / "examples")),
            "transform_graph": TransformGraph(uri=str(out / "graph")),
        },
        params=TransformParameters.model_validate(params),
        beam_options=beam_options or {"runner": "DirectRunner"},
        log=logging.getLogger("test.transform"),
        base_dir=base_dir,
    )
    TransformComponent().run(ctx)
    return ctx.outputs["transformed_examples"], ctx.outputs["transform_graph"]  # type: ignore[return-value]


def graph_document(graph: TransformGraph) -> dict:
    return json.loads(Path(graph.uri, "transform_graph.json").read_text())


def split_table(examples: Examples, split: str) -> pa.Table:
    return examples.to_table(split)


# -- what the transform computes -------------------------------------------------------------


def test_penguin_ops_analyze_train_only_and_apply_everywhere(penguins, tmp_path):
    transformed, graph = run_transform(penguins, tmp_path / "out", engine="in_process")
    train = penguins.to_table("train")
    document = graph_document(graph)
    fill, zscore, vocab = document["ops"]
    assert fill["columns"] == ["bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g"]
    assert vocab["columns"] == ["island", "sex"]  # the label is excluded by the selector, year is numeric
    mean = pc.mean(train["bill_length_mm"]).as_py()
    assert fill["values"]["bill_length_mm"]["mean"] == pytest.approx(mean, rel=1e-12)
    # the z-score's moments are those of the *filled* column: same mean, every row counted
    assert zscore["values"]["bill_length_mm"]["count"] == train.num_rows
    assert zscore["values"]["bill_length_mm"]["mean"] == pytest.approx(mean, rel=1e-12)
    assert document["analysis"] == {"split": "train", "rows": train.num_rows, "passes": 2}

    out = transformed.to_table("train")
    assert out.column_names == train.column_names  # columns keep their place; species and year pass through
    assert out["species"].equals(train["species"])
    z = out["bill_length_mm"].to_numpy()
    assert abs(z.mean()) < 1e-9 and z.std() == pytest.approx(1.0, rel=1e-9)
    assert out["island"].type == pa.int64() and set(out["island"].to_pylist()) == {0, 1, 2}
    islands = vocab["values"]["island"]["values"]
    counts = pc.value_counts(train["island"]).to_pylist()
    assert islands[0] == max(counts, key=lambda c: c["counts"])["values"]  # most frequent first

    eval_out = transformed.to_table("eval").to_pylist()
    unseen, nulls = eval_out[-2], eval_out[-1]
    assert unseen["island"] == 3  # 'Anvers' goes to the single OOV bucket, after the 3 known islands
    assert nulls["island"] is None  # null stays null (fill_missing first to give it a value)
    fill_mean = fill["values"]["bill_depth_mm"]["mean"]
    z_values = zscore["values"]["bill_depth_mm"]
    assert nulls["bill_depth_mm"] == pytest.approx((fill_mean - z_values["mean"]) / np.sqrt(z_values["var"]))
    assert transformed.properties["row_counts"] == {"train": 260, "eval": penguins.to_table("eval").num_rows}
    assert Path(graph.uri, "transform.html").is_file()


def test_loaded_graph_gives_the_pass_values_row_for_row(penguins, tmp_path):
    transformed, graph = run_transform(penguins, tmp_path / "out", engine="in_process")
    loaded = TransformGraph.load(graph.uri)
    for split in ("train", "eval"):
        raw = penguins.to_table(split)
        expected = transformed.to_table(split)
        assert loaded.transform(raw).equals(expected)  # a Table
        batches = [loaded.transform(b) for b in raw.to_batches(max_chunksize=7)]  # RecordBatches, any size
        assert pa.Table.from_batches(batches).equals(expected)
        shuffled = raw.select(list(reversed(raw.column_names))).append_column("extra", pa.array(range(len(raw))))
        assert loaded.transform(shuffled).equals(expected)  # columns in another order, an extra column ignored
        frame = loaded.transform(raw.to_pandas())
        pd.testing.assert_frame_equal(frame, expected.to_pandas())
    empty = loaded.transform(pa.RecordBatch.from_pylist([], schema=penguins.to_table("train").schema))
    assert empty.num_rows == 0 and empty.schema == transformed.to_table("train").schema


def test_serving_rows_may_lack_the_label_but_not_a_feature(penguins, tmp_path):
    _, graph = run_transform(penguins, tmp_path / "out", engine="in_process")
    loaded = TransformGraph.load(graph.uri)
    rows = penguins.to_table("eval").drop_columns(["species", "year"])
    out = loaded.transform(rows)
    assert "species" not in out.column_names and out.num_rows == rows.num_rows
    with pytest.raises(TransformError, match="'body_mass_g'"):
        loaded.transform(rows.drop_columns(["body_mass_g"]))
    document = graph_document(graph)
    required = [f["name"] for f in document["input_schema"] if f["required"]]
    assert required == ["island", "bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g", "sex"]


def test_every_op(tmp_path):
    table = pa.table(
        {
            "x": [1.0, 2.0, 3.0, 4.0, None, 6.0, 7.0, 8.0],
            "n": pa.array([0, 1, 2, 3, 4, 5, 6, 100], pa.int64()),
            "c": ["a", "b", "a", "c", "a", "b", None, "a"],
            "d": ["u", "v", "u", "v", "u", "v", "u", "v"],
        }
    )
    examples = write_examples(tmp_path / "examples", {"train": [table], "eval": [table.slice(0, 3)]})
    ops = [
        {"fill_missing": {"columns": ["x"], "strategy": "median"}},
        {"fill_missing": {"columns": ["c"], "strategy": "mode"}},
        {"scale_to_0_1": {"columns": ["x"], "suffix": "_01"}},
        {"bucketize": {"columns": ["x"], "num_buckets": 4, "suffix": "_bucket"}},
        {"log1p": {"columns": ["n"], "suffix": "_log"}},
        {"clip": {"columns": ["n"], "max": 10}},
        {"hash_bucket": {"columns": ["d"], "num_buckets": 16, "suffix": "_hash"}},
        {"cross": {"columns": ["c", "d"], "output": "cd"}},
        {"vocabulary": {"columns": ["d"]}},
        {"one_hot": {"columns": ["c"], "top_k": 2}},
        {"drop": {"select": {"pattern": "^d_hash$"}}},
        {"rename": {"columns": {"n_log": "log_n"}}},
    ]
    transformed, graph = run_transform(examples, tmp_path / "out", engine="in_process", ops=ops)
    out = transformed.to_table("train").to_pydict()
    assert out["x"][4] == 4.0  # the median of 1,2,3,4,6,7,8
    assert out["x_01"][0] == 0.0 and out["x_01"][-1] == 1.0
    assert out["x_bucket"] == [0, 1, 1, 2, 2, 3, 3, 3]  # boundaries 2, 4, 6; a boundary starts its bucket
    assert out["n"] == [0, 1, 2, 3, 4, 5, 6, 10]
    assert out["log_n"][1] == pytest.approx(np.log(2))
    assert out["cd"][0] == "a|u" and out["cd"][6] == "a|u"  # the null was filled with the mode first
    assert out["d"] == table["d"].to_pylist()  # vocabulary only records
    assert out["c_a"] == [1, 0, 1, 0, 1, 0, 1, 1] and out["c_b"] == [0, 1, 0, 0, 0, 1, 0, 0]
    assert out["c_OOV"] == [0, 0, 0, 1, 0, 0, 0, 0]  # 'c' is outside the top 2
    assert "c" not in out and "d_hash" not in out
    document = graph_document(graph)
    assert document["ops"][8]["values"]["d"]["values"] == ["u", "v"]
    assert json.dumps(document)  # readable JSON: no pickles
    assert TransformGraph.load(graph.uri).transform(table).equals(transformed.to_table("train"))


def test_hash_buckets_are_stable_across_processes(tmp_path):
    import subprocess
    import sys

    from headrace.components.transform.scope import hash_bucket

    here = hash_bucket(pa.array(["a", "b", "penguin"]), 1000).to_pylist()
    code = "import pyarrow as pa; from headrace.components.transform.scope import hash_bucket; print(hash_bucket(pa.array(['a','b','penguin']), 1000).to_pylist())"
    there = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert str(here) == there.strip()


def test_schema_decides_what_is_categorical(tmp_path):
    table = pa.table({"zip": pa.array([1, 2, 1, 2], pa.int64()), "x": [1.0, 2.0, 3.0, 4.0]})
    examples = write_examples(tmp_path / "examples", {"train": [table]})
    schema_dir = tmp_path / "schema"
    schema_dir.mkdir()
    (schema_dir / "schema.json").write_text(
        json.dumps({"version": 1, "columns": {"zip": {"type": "int64", "domain": ["1", "2"]}, "x": {"type": "double"}}})
    )
    schema = Schema(uri=str(schema_dir))
    _, graph = run_transform(
        examples,
        tmp_path / "a",
        schema=schema,
        engine="in_process",
        ops=[{"scale_to_z_score": {"select": {"type": "numeric"}}}],
    )
    assert graph_document(graph)["ops"][0]["columns"] == ["x"]  # zip has a domain: categorical
    with pytest.raises(TransformError, match=r"scale_to_z_score over column 'zip'.*categorical"):
        run_transform(
            examples,
            tmp_path / "b",
            schema=schema,
            engine="in_process",
            ops=[{"scale_to_z_score": {"columns": ["zip"]}}],
        )


# -- engines ------------------------------------------------------------------------------------


def assert_same_outputs(a: tuple[Examples, TransformGraph], b: tuple[Examples, TransformGraph]) -> None:
    for split in a[0].splits:
        assert a[0].to_table(split).equals(b[0].to_table(split)), split
    assert graph_document(a[1]) == graph_document(b[1])
    assert Path(a[1].uri, "transform_graph.json").read_bytes() == Path(b[1].uri, "transform_graph.json").read_bytes()


@pytest.mark.timeout(300)
def test_in_process_direct_runner_and_dask_runner_agree(penguins, dask_cluster, tmp_path):
    in_process = run_transform(penguins, tmp_path / "in_process", engine="in_process", batch_size=50)
    direct = run_transform(penguins, tmp_path / "direct", engine="beam", batch_size=50)
    options = {"runner": "DaskRunner", "dask_client_address": dask_cluster.scheduler_address, "dask_npartitions": 2}
    dask = run_transform(penguins, tmp_path / "dask", beam_options=options, batch_size=50)
    assert in_process[0].properties["engine"] == "in_process"
    assert direct[0].properties["engine"] == dask[0].properties["engine"] == "beam"
    assert_same_outputs(in_process, direct)
    assert_same_outputs(in_process, dask)


@pytest.mark.timeout(300)
def test_direct_runner_multi_processing(penguins, tmp_path):
    options = {"runner": "DirectRunner", "direct_running_mode": "multi_processing", "direct_num_workers": 2}
    in_process = run_transform(penguins, tmp_path / "in_process", engine="in_process")
    multi = run_transform(penguins, tmp_path / "multi", beam_options=options, engine="beam")
    assert_same_outputs(in_process, multi)


def test_a_small_transform_imports_neither_beam_nor_pandas(penguins, tmp_path):
    """Small data stays fast: the in-process engine starts no Beam and builds its constants without pandas."""
    probe = f"""
import json, logging, sys
from headrace.components.artifacts import Examples, TransformGraph
from headrace.components.contract import Context
from headrace.components.transform.component import TransformComponent
from headrace.components.transform.spec import TransformParameters
ctx = Context(component="transform", inputs={{"examples": Examples(**json.loads(sys.argv[1])), "schema": None}},
              outputs={{"transformed_examples": Examples(uri=sys.argv[2] + "/examples"),
                        "transform_graph": TransformGraph(uri=sys.argv[2] + "/graph")}},
              params=TransformParameters.model_validate({{"ops": {PENGUIN_OPS!r}}}), log=logging.getLogger("t"))
TransformComponent().run(ctx)
print(ctx.outputs["transformed_examples"].properties["engine"], [m for m in ("apache_beam", "pandas") if m in sys.modules])
"""
    examples = json.dumps({"uri": penguins.uri, "properties": penguins.properties})
    done = subprocess.run(
        [sys.executable, "-c", probe, examples, str(tmp_path / "out")], capture_output=True, text=True, check=True
    )
    assert done.stdout.split("\n")[-2] == "in_process []"


def test_sums_do_not_depend_on_how_runners_group_and_order_batches(tmp_path):
    """Runners group batches into accumulators and merge them in any order; the frozen values must not move."""
    rng = np.random.default_rng(7)
    values = rng.normal(1e6, 1e3, 5000)
    table = pa.table({"x": values})
    whole = write_examples(tmp_path / "whole", {"train": [table]})
    parts = write_examples(tmp_path / "parts", {"train": [table.slice(i, 500) for i in range(0, 5000, 500)][::-1]})
    ops = [{"scale_to_z_score": {"columns": ["x"]}}]
    a = graph_document(run_transform(whole, tmp_path / "a", engine="in_process", ops=ops, batch_size=500)[1])
    b = graph_document(run_transform(parts, tmp_path / "b", engine="in_process", ops=ops, batch_size=500)[1])
    assert a["ops"][0]["values"] == b["ops"][0]["values"]
    assert a["ops"][0]["values"]["x"]["mean"] == pytest.approx(float(np.mean(values.astype(np.longdouble))), rel=1e-15)


# -- preprocessing_fn ------------------------------------------------------------------------------

PREPROCESSING = """
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv


def preprocessing_fn(inputs, tx):
    raw_mass = pc.cast(inputs["body_mass_g"], pa.float64())
    mass = pc.fill_null(raw_mass, tx.mean(raw_mass))
    centred = pc.subtract(mass, tx.mean(mass))  # an analyzer over a value made from another analyzer
    bill = inputs["bill_length_mm"]
    return {
        "mass_centred": centred,
        "mass_scaled": pc.divide(centred, tx.std(mass)),
        "bill_01": pc.divide(pc.subtract(bill, tx.min(bill)), tx.max(bill) - tx.min(bill)),
        "bill_bucket": tx.bucketize(bill, tx.quantiles(bill, 4)),
        "island": tx.apply_vocabulary(inputs["island"], tx.vocabulary(inputs["island"], top_k=2)),
        "species": inputs["species"],
    }
"""


def write_module(tmp_path: Path, text: str, name: str = "preprocessing.py") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_preprocessing_fn_two_phases(penguins, tmp_path):
    module = write_module(tmp_path, PREPROCESSING)
    transformed, graph = run_transform(penguins, tmp_path / "out", engine="in_process", ops=[], module=module)
    train = penguins.to_table("train")
    out = transformed.to_table("train")
    assert out.column_names == ["mass_centred", "mass_scaled", "bill_01", "bill_bucket", "island", "species"]
    mass = train["body_mass_g"].to_numpy(zero_copy_only=False)
    filled = np.where(np.isnan(mass), np.nanmean(mass), mass)
    assert out["mass_centred"].to_numpy() == pytest.approx(filled - filled.mean())
    assert out["mass_scaled"].to_numpy() == pytest.approx((filled - filled.mean()) / filled.std())
    assert pc.min(out["bill_01"]).as_py() == 0.0 and pc.max(out["bill_01"]).as_py() == 1.0
    assert set(out["bill_bucket"].drop_null().to_pylist()) == {0, 1, 2, 3}
    assert set(out["island"].to_pylist()) == {0, 1, 2}  # top 2 islands and one OOV bucket
    document = graph_document(graph)
    assert document["preprocessing_fn"]["source_file"] == "preprocessing.py"
    assert len(document["preprocessing_fn"]["values"]) == 8  # one frozen value per analyzer call
    assert document["analysis"]["passes"] >= 2  # mean(mass) depends on mean(body_mass_g)
    # the graph carries the module: it loads and transforms with the user's file gone
    Path(module).unlink()
    loaded = TransformGraph.load(graph.uri)
    for split in ("train", "eval"):
        assert loaded.transform(penguins.to_table(split)).equals(transformed.to_table(split))
    copy = Path(graph.uri, "preprocessing.py")
    copy.write_text(copy.read_text().replace("top_k=2", "top_k=3"))
    with pytest.raises(TransformError, match="not the module this TransformGraph was fitted with"):
        TransformGraph.load(graph.uri)


def test_beam_runs_a_preprocessing_fn_of_three_passes_like_in_process(penguins, tmp_path):
    """The Beam pipeline unrolls two passes; a third (mean of a mean-filled column) takes a second pipeline."""
    module = write_module(tmp_path, PREPROCESSING)
    in_process = run_transform(penguins, tmp_path / "in_process", engine="in_process", ops=[], module=module)
    beam = run_transform(penguins, tmp_path / "beam", engine="beam", ops=[], module=module)
    assert graph_document(beam[1])["analysis"]["passes"] == 3
    assert_same_outputs(in_process, beam)


def test_ops_then_preprocessing_fn(penguins, tmp_path):
    module = write_module(
        tmp_path,
        "import pyarrow.compute as pc\n\ndef preprocessing_fn(inputs, tx):\n"
        "    return {'mass': pc.divide(inputs['body_mass_g'], tx.max(inputs['body_mass_g']))}\n",
    )
    transformed, _ = run_transform(penguins, tmp_path / "out", engine="in_process", module=module)
    mass = transformed.to_table("train")["mass"]
    # the function sees the ops' output: z-scored, filled masses, divided by their maximum
    assert mass.null_count == 0 and pc.max(mass).as_py() == 1.0


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            "    raise ValueError('no such feature')\n",
            r"preprocessing\.py:4: preprocessing_fn raised ValueError: no such feature",
        ),
        (
            "    return {'x': [1, 2]}\n",
            r"preprocessing\.py:3: preprocessing_fn returned list for column 'x', not an Arrow array",
        ),
        ("    return inputs['island']\n", r"preprocessing\.py:3: preprocessing_fn returned StringArray, not a dict"),
        (
            "    return {'a': inputs['island'], 'b': inputs['island'].slice(1)}\n",
            r"different lengths: the batch has \d+ rows but b \(\d+ rows\)",
        ),
        (
            "    return {'m': tx.mean(inputs['island'])}\n",
            r"preprocessing\.py:4: tx\.mean\(\.\.\.\) needs a numeric column",
        ),
        (
            "    return {'m': inputs['bill_lenght_mm']}\n",
            r"preprocessing\.py:4: preprocessing_fn reads inputs\['bill_lenght_mm'\], but there is no such column "
            r"\(columns: species, .*\); did you mean 'bill_length_mm'\?",
        ),
    ],
)
def test_preprocessing_fn_mistakes_name_the_line(penguins, tmp_path, body, expected):
    module = write_module(tmp_path, "import pyarrow.compute as pc\n\ndef preprocessing_fn(inputs, tx):\n" + body)
    with pytest.raises(TransformError, match=expected):
        run_transform(penguins, tmp_path / "out", engine="in_process", ops=[], module=module)


# -- bad input -----------------------------------------------------------------------------------------


@pytest.fixture
def odd_table(tmp_path) -> Examples:
    table = pa.table(
        {
            "empty": pa.array([None, None, None, None], pa.float64()),
            "few": pa.array([1, 1, 2, 2], pa.int64()),
            "name": ["a", "b", "a", "b"],
        }
    )
    return write_examples(tmp_path / "examples", {"train": [table]})


@pytest.mark.parametrize(
    ("op", "expected"),
    [
        (
            {"scale_to_z_score": {"columns": ["empty"]}},
            r"^components\.transform\.params\.ops\[0\]: scale_to_z_score over column 'empty': the column has no values",
        ),
        (
            {"compute_and_apply_vocabulary": {"columns": ["few"]}},
            r"over column 'few': a vocabulary is over categorical values, but the column is numeric \(int64\)",
        ),
        (
            {"bucketize": {"columns": ["few"], "num_buckets": 4}},
            r"bucketize over column 'few': num_buckets 4 is more than the column's values can fill",
        ),
        (
            {"scale_to_0_1": {"select": {"type": "floating", "pattern": "^x"}}},
            r"ops\[0\]: scale_to_0_1: the selector \{type: floating, pattern: \^x\} selects no column",
        ),
        (
            {"log1p": {"columns": ["nmae"]}},
            r"log1p over column 'nmae': no such column; columns here: empty, few, name; did you mean 'name'\?",
        ),
        (
            {"fill_missing": {"columns": ["empty"], "strategy": "mean"}},
            r"fill_missing over column 'empty': the column has no values",
        ),
    ],
)
def test_bad_ops_name_the_op_and_column(odd_table, tmp_path, op, expected):
    out = tmp_path / "out"
    with pytest.raises(TransformError, match=expected):
        run_transform(odd_table, out, engine="in_process", ops=[op])
    assert not (out / "graph" / "transform_graph.json").exists()  # nothing half-made is left as if it were done


@pytest.mark.parametrize(
    ("op", "module"),
    [
        ({"scale_to_z_score": {"columns": ["empty"]}}, None),  # found when the pass ends
        ({"bucketize": {"columns": ["few"], "num_buckets": 4}}, None),  # found when the values are frozen
        (None, "def preprocessing_fn(inputs, tx):\n    raise ValueError('no such feature')\n"),  # found reading a file
    ],
)
def test_bad_input_fails_on_beam_as_in_process(odd_table, tmp_path, op, module):
    params = {"ops": [op] if op else [], "module": write_module(tmp_path, module) if module else None}
    with pytest.raises(TransformError) as in_process:
        run_transform(odd_table, tmp_path / "in_process", engine="in_process", **params)
    with pytest.raises(TransformError) as beam:
        run_transform(odd_table, tmp_path / "beam", engine="beam", **params)
    assert str(beam.value) == str(in_process.value)
    assert not (tmp_path / "beam" / "graph" / "transform_graph.json").exists()


def test_op_names_and_arguments_are_checked_before_anything_runs(tmp_path):
    from click.testing import CliRunner

    from headrace.pipelines.cli import main

    pipeline = tmp_path / "pipeline.yaml"
    pipeline.write_text(
        f"""name: t
components:
  ingest:
    type: ingest
    params: {{source: {PENGUINS}}}
  transform:
    type: transform
    inputs: {{examples: ingest.examples}}
    params:
      ops:
        - scale_to_zscore: {{select: {{type: numeric}}}}
        - bucketize: {{columns: [bill_length_mm], num_bucket: 3}}
        - fill_missing: {{select: {{type: numerics}}, strategy: mean}}
        - log1p: {{}}
"""
    )
    result = CliRunner().invoke(main, ["validate", str(pipeline)])
    assert result.exit_code == 2
    out = result.output
    assert "pipeline.yaml:11:11: error: unknown key 'scale_to_zscore'" in out
    assert "did you mean 'scale_to_z_score'?" in out
    assert "pipeline.yaml:12:50: error: unknown key 'num_bucket'" in out and "did you mean 'num_buckets'?" in out
    assert (
        "pipeline.yaml:13:41: error: invalid value for 'components.transform.params.ops.2.fill_missing.select.type'"
        in out
    )
    assert "pipeline.yaml:14:18:" in out and "give exactly one of 'columns' (a list of names) or 'select'" in out


# -- in a pipeline: caching and failures -----------------------------------------------------------


def pipeline_with_transform(tmp_path: Path, ops: str, module: str | None = None) -> Path:
    pipeline = tmp_path / "pipeline.yaml"
    module_line = f"\n      module: {module}" if module else ""
    pipeline.write_text(
        f"""name: t
components:
  ingest:
    type: ingest
    params: {{source: {PENGUINS}}}
  transform:
    type: transform
    inputs: {{examples: ingest.examples}}
    params:{module_line}
      ops:
{ops}
"""
    )
    return pipeline


def cli(*args: str) -> tuple[int, str]:
    from click.testing import CliRunner

    from headrace.pipelines.cli import main

    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result.exit_code, result.output


def test_module_body_and_op_arguments_enter_the_cache_key(tmp_path):
    module = tmp_path / "features.py"
    module.write_text(
        "import pyarrow.compute as pc\n\ndef preprocessing_fn(inputs, tx):\n"
        "    return {'mass': pc.divide(inputs['body_mass_g'], tx.max(inputs['body_mass_g']))}\n"
    )
    ops = "        - fill_missing: {select: {type: numeric}, strategy: mean}"
    pipeline = pipeline_with_transform(tmp_path, ops, "features.py")
    assert cli("run", str(pipeline))[0] == 0
    code, out = cli("run", str(pipeline))
    assert code == 0 and "transform: cached" in out
    module.write_text(module.read_text().replace("tx.max", "tx.min"))
    code, out = cli("run", str(pipeline))
    assert code == 0 and "user code `features.py` changed" in out
    pipeline.write_text(pipeline.read_text().replace("strategy: mean", "strategy: median"))
    code, out = cli("run", str(pipeline))
    assert code == 0 and "transform: running" in out and "ingest: cached" in out


def test_an_eval_only_change_reruns_the_transform_pass_but_not_the_analysis(tmp_path, monkeypatch):
    """The analyzer values are kept by the train split's content: new eval rows reuse them; new train rows do not."""
    from headrace.metadata.store import MetadataStore
    from headrace.pipelines.loader import load_pipeline

    table = penguin_table()
    pacsv.write_csv(table.slice(0, 260), tmp_path / "train.csv")
    pacsv.write_csv(table.slice(260), tmp_path / "eval.csv")
    pipeline = tmp_path / "pipeline.yaml"
    ops = "\n".join(f"        - {json.dumps(op)}" for op in PENGUIN_OPS)
    pipeline.write_text(
        f"""name: t
components:
  ingest:
    type: ingest
    params: {{source: {{train: train.csv, eval: eval.csv}}}}
  transform:
    type: transform
    inputs: {{examples: ingest.examples}}
    params:
      ops:
{ops}
"""
    )
    store = MetadataStore(load_pipeline(str(pipeline)).metadata_url)

    def run(*flags: str) -> tuple[dict, dict, Examples, bytes]:
        code, out = cli("run", *flags, str(pipeline))
        assert code == 0 and "transform: running" in out, out
        graph = store.latest_artifact("TransformGraph", component="transform")
        examples = store.latest_artifact("Examples", component="transform")
        assert graph is not None and examples is not None
        execution = store.producer(graph.id)
        assert execution is not None
        document = Path(graph.uri, "transform_graph.json").read_bytes()
        return graph.properties, execution.metrics, Examples(uri=examples.uri, properties=examples.properties), document

    first, metrics, _, document = run()
    assert first["analysis_reused"] is False and metrics["analyze_passes"] == 2

    pacsv.write_csv(table.slice(260, 40), tmp_path / "eval.csv")  # eval alone changes
    second, metrics, transformed, same_document = run()
    assert second["analysis_reused"] is True and metrics["analyze_passes"] == 0
    assert same_document == document  # the graph the passes would have made
    assert transformed.properties["row_counts"] == {"train": 260, "eval": 40}  # the new eval rows, transformed
    assert transformed.to_table("eval")["bill_length_mm"].null_count == 0
    assert run("--no-cache")[0]["analysis_reused"] is False  # asked to compute everything again: it does

    pacsv.write_csv(table.slice(0, 250), tmp_path / "train.csv")  # train changes: analyzed again
    third, metrics, _, new_document = run()
    assert third["analysis_reused"] is False and metrics["analyze_passes"] == 2 and new_document != document

    # the cache keeps the most recently used analyses: with room for two, a third train split drops the oldest
    from headrace.components.transform import analysis_cache

    monkeypatch.setattr(analysis_cache, "KEPT", 2)
    kept = set(tmp_path.rglob("analysis-*.json"))
    assert len(kept) == 2
    pacsv.write_csv(table.slice(0, 240), tmp_path / "train.csv")
    assert run()[0]["analysis_reused"] is False
    now = set(tmp_path.rglob("analysis-*.json"))
    assert len(now) == 2 and len(kept - now) == 1  # the first split's, used longest ago
    pacsv.write_csv(table.slice(0, 250), tmp_path / "train.csv")  # the third run's split: still kept
    pacsv.write_csv(table.slice(260, 30), tmp_path / "eval.csv")  # (new eval rows, so the transform runs)
    assert run()[0]["analysis_reused"] is True


def test_a_failing_transform_keeps_what_was_published(tmp_path):
    ops = "        - compute_and_apply_vocabulary: {columns: [island, body_mass_g]}"
    pipeline = pipeline_with_transform(tmp_path, ops)
    code, out = cli("run", str(pipeline))
    assert code == 1
    assert "Traceback" not in out
    assert "pipeline.yaml:11:11: ops[0]: compute_and_apply_vocabulary over column 'body_mass_g'" in out
    assert "a vocabulary is over categorical values, but the column is numeric (int64)" in out
    from headrace.metadata.store import MetadataStore
    from headrace.pipelines.loader import load_pipeline

    store = MetadataStore(load_pipeline(str(pipeline)).metadata_url)
    run_id = store.list_runs(limit=1)[0].id
    states = {e.component: e.state for e in store.executions(run_id)}
    assert states == {"ingest": "complete", "transform": "failed"}


def test_column_names_are_checked_against_a_curated_schema_before_anything_runs(tmp_path):
    schema = (ROOT / "examples" / "penguin" / "schema.yaml").read_text()
    (tmp_path / "schema.yaml").write_text(schema)
    pipeline = tmp_path / "pipeline.yaml"
    pipeline.write_text(
        f"""name: t
components:
  ingest:
    type: ingest
    params: {{source: {PENGUINS}}}
  schema:
    type: schema
    params: {{path: schema.yaml}}
  transform:
    type: transform
    inputs: {{examples: ingest.examples, schema: schema.schema}}
    params:
      ops:
        - log1p: {{columns: [body_mass_g], suffix: _log}}
        - clip: {{columns: [body_mass_g_log, bill_lenght_mm]}}
        - one_hot: {{columns: [island]}}
        - drop: {{columns: [island_Biscoe]}}
        - compute_and_apply_vocabulary: {{select: {{type: categorical, exclude: [speices]}}}}
"""
    )
    code, out = cli("validate", str(pipeline))
    assert code == 2
    assert "pipeline.yaml:15:45: error: column 'bill_lenght_mm' is not in the schema" in out
    assert "hint: did you mean 'bill_length_mm'?" in out
    assert "pipeline.yaml:18:80: error: column 'speices' is not in the schema" in out, out
    assert "body_mass_g_log" not in out and "island_Biscoe" not in out  # made by the ops before them
    assert out.count("error:") == 2


def test_an_empty_split_gets_an_empty_file_of_the_output_schema(tmp_path):
    table = penguin_table()
    examples = write_examples(tmp_path / "examples", {"train": [table], "eval": [table.slice(0, 0)]})
    transformed, _ = run_transform(examples, tmp_path / "out", engine="in_process")
    empty = transformed.to_table("eval")
    assert empty.num_rows == 0 and empty.schema == transformed.to_table("train").schema
    assert transformed.properties["row_counts"] == {"train": table.num_rows, "eval": 0}


def test_an_empty_analyze_split_is_an_error(tmp_path):
    table = penguin_table()
    examples = write_examples(tmp_path / "examples", {"train": [table.slice(0, 0)], "eval": [table]})
    with pytest.raises(TransformError, match="the analyze split 'train' has no rows"):
        run_transform(examples, tmp_path / "out", engine="in_process")
    with pytest.raises(TransformError, match=r"analyze_split 'trian' is not a split .*did you mean 'train'\?"):
        run_transform(examples, tmp_path / "out2", engine="in_process", analyze_split="trian")
