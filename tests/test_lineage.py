"""Lineage queries and renderings on a small hand-made graph, on every backend.

Run 1: ingest -> Examples -> stats -> Statistics -> schema -> Schema.
Run 2: ingest makes new Examples with the same content; stats and schema are
cache hits that link run 1's Statistics and Schema.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass

import pytest

from headrace.metadata.records import ArtifactRecord, ExecutionRecord
from headrace.metadata.store import MetadataStore
from tests.databases import publish


@dataclass
class Graph:
    store: MetadataStore
    run1: str
    run2: str
    ingest1: ExecutionRecord
    stats1: ExecutionRecord
    schema1: ExecutionRecord
    ingest2: ExecutionRecord
    stats2: ExecutionRecord
    schema2: ExecutionRecord
    examples1: ArtifactRecord
    statistics: ArtifactRecord
    schema: ArtifactRecord
    examples2: ArtifactRecord


def _execute(
    store: MetadataStore, run_id: str, component: str, inputs: dict[str, int], outputs: dict[str, tuple[str, str]]
):
    execution = store.create_execution(
        run_id,
        component,
        component.capitalize(),
        "1",
        parameters={},
        cache_key=f"key-{component}",
        cache_inputs={},
        inputs=inputs,
    )
    published = publish(
        store,
        execution.id,
        {
            name: {"type": type_, "uri": uri, "properties": {}, "fingerprint": f"fp-{type_}"}
            for name, (type_, uri) in outputs.items()
        },
    )
    store.finish_execution(execution.id, "complete")
    return store.get_execution(execution.id), published


def _cache_hit(store: MetadataStore, run_id: str, original: ExecutionRecord, inputs: dict[str, int]) -> ExecutionRecord:
    hit = store.create_execution(
        run_id,
        original.component,
        original.component_type,
        "1",
        parameters={},
        cache_key=original.cache_key,
        cache_inputs={},
        state="cached",
        inputs=inputs,
        outputs={name: a.id for name, a in store.outputs_of(original.id).items()},
        cached_from=original.id,
    )
    return store.get_execution(hit.id)


@pytest.fixture
def graph(store: MetadataStore) -> Graph:
    run1 = store.create_run("penguin", spec={}, pipeline_file="p.yaml", root="/p", run_id="20260101-000000-aaaaaa").id
    ingest1, out = _execute(store, run1, "ingest", {}, {"examples": ("Examples", "/p/1/examples")})
    examples1 = out["examples"]
    stats1, out = _execute(
        store, run1, "stats", {"examples": examples1.id}, {"statistics": ("Statistics", "/p/1/stats")}
    )
    statistics = out["statistics"]
    schema1, out = _execute(store, run1, "schema", {"statistics": statistics.id}, {"schema": ("Schema", "/p/1/schema")})
    schema = out["schema"]

    run2 = store.create_run("penguin", spec={}, pipeline_file="p.yaml", root="/p", run_id="20260102-000000-bbbbbb").id
    ingest2, out = _execute(store, run2, "ingest", {}, {"examples": ("Examples", "/p/2/examples")})
    examples2 = out["examples"]
    stats2 = _cache_hit(store, run2, stats1, {"examples": examples2.id})
    schema2 = _cache_hit(store, run2, schema1, {"statistics": statistics.id})
    return Graph(
        store, run1, run2, ingest1, stats1, schema1, ingest2, stats2, schema2, examples1, statistics, schema, examples2
    )


def test_producer_and_run_follow_the_maker_not_the_cache_hit(graph: Graph) -> None:
    store = graph.store
    assert store.producer(graph.statistics.id).id == graph.stats1.id
    assert store.producer(graph.schema.id).id == graph.schema1.id
    assert store.run_of_artifact(graph.schema.id).id == graph.run1
    assert store.run_of_artifact(graph.examples2.id).id == graph.run2
    assert store.outputs_of(graph.stats2.id) == {"statistics": graph.statistics}


def test_derived_artifacts_are_transitive(graph: Graph) -> None:
    store = graph.store
    assert [a.id for a in store.derived_artifacts(graph.examples1.id)] == [graph.statistics.id, graph.schema.id]
    # run 2's examples fed a cache hit, which stands for the same statistics
    assert [a.id for a in store.derived_artifacts(graph.examples2.id)] == [graph.statistics.id, graph.schema.id]
    assert store.derived_artifacts(graph.schema.id) == []


def test_latest_artifact(graph: Graph) -> None:
    store = graph.store
    assert store.latest_artifact("Examples") == graph.examples2
    assert store.latest_artifact("Examples", component="ingest", pipeline="penguin") == graph.examples2
    assert store.latest_artifact("Schema", component="schema") == graph.schema
    assert store.latest_artifact("Schema", pipeline="other") is None
    assert store.latest_artifact("Model") is None


def test_lineage_up_explains_an_artifact(graph: Graph) -> None:
    lineage = graph.store.lineage(graph.schema.id, "up")
    assert set(lineage.artifacts) == {graph.schema.id, graph.statistics.id, graph.examples1.id}
    assert set(lineage.executions) == {graph.schema1.id, graph.stats1.id, graph.ingest1.id}
    assert ("artifact", graph.statistics.id, "execution", graph.schema1.id, "statistics") in lineage.edges
    assert ("execution", graph.schema1.id, "artifact", graph.schema.id, "schema") in lineage.edges
    text = lineage.to_text()
    assert text.splitlines() == [
        f"Schema #{graph.schema.id} /p/1/schema  <- schema (execution {graph.schema1.id}, run {graph.run1})",
        f"    statistics: Statistics #{graph.statistics.id} /p/1/stats  <- stats (execution {graph.stats1.id}, run {graph.run1})",
        f"        examples: Examples #{graph.examples1.id} /p/1/examples  <- ingest (execution {graph.ingest1.id}, run {graph.run1})",
    ]


def test_lineage_down_includes_later_runs_and_cache_hits(graph: Graph) -> None:
    lineage = graph.store.lineage(graph.statistics.id, "down")
    assert set(lineage.executions) == {graph.schema1.id, graph.schema2.id}
    assert set(lineage.artifacts) == {graph.statistics.id, graph.schema.id}
    text = lineage.to_text()
    assert text.splitlines()[0] == f"Statistics #{graph.statistics.id} /p/1/stats"
    assert (
        f"-> schema (execution {graph.schema2.id}, run {graph.run2}, cached from {graph.schema1.id}) as 'statistics'"
        in text
    )
    assert "(see above)" in text  # the cache hit reused the same Schema

    from_examples = graph.store.lineage(graph.examples2.id, "down")
    assert set(from_examples.executions) == {graph.stats2.id, graph.schema1.id, graph.schema2.id}
    with pytest.raises(ValueError, match="'up' or 'down', not 'sideways'"):
        graph.store.lineage(graph.schema.id, "sideways")
    with pytest.raises(ValueError, match="no artifact 999999"):
        graph.store.lineage(999999)


def test_lineage_as_json_and_dot(graph: Graph) -> None:
    lineage = graph.store.lineage(graph.schema.id, "up")
    data = json.loads(json.dumps(lineage.to_dict()))
    assert data["root"] == f"artifact:{graph.schema.id}" and data["direction"] == "up"
    keys = {n["key"] for n in data["nodes"]}
    assert f"execution:{graph.ingest1.id}" in keys and len(keys) == 6
    assert {
        "source": f"artifact:{graph.examples1.id}",
        "target": f"execution:{graph.stats1.id}",
        "name": "examples",
    } in data["edges"]

    dot = graph.store.lineage(graph.statistics.id, "down").to_dot()
    assert dot.startswith("digraph lineage {") and dot.rstrip().endswith("}")
    assert f'"artifact:{graph.statistics.id}" [shape=box' in dot
    assert f'"execution:{graph.schema2.id}" [shape=ellipse' in dot and 'style="dashed"' in dot
    if shutil.which("dot"):
        svg = subprocess.run(["dot", "-Tsvg"], input=dot, capture_output=True, text=True, check=True).stdout
        assert "<svg" in svg
