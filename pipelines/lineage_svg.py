"""Lineage as a picture: an SVG of executions and artifacts, drawn without Graphviz.

The same drawing serves ``headrace lineage --format svg`` (the lineage of one
artifact) and the MLflow parent run (the whole run), so a user sees one
picture in both places. Data flows top to bottom (pipelines are deeper than
wide, and pages are tall): an artifact sits one row below the execution that
made it, an execution one row below its last input. Executions are coloured
by state; a cache hit is drawn dashed and says which execution it reused; a
blessing says whether it blessed.
"""

from __future__ import annotations

from html import escape

from headrace.metadata.lineage import LineageGraph
from headrace.metadata.records import RunRecord
from headrace.metadata.store import MetadataStore

BOX_W, BOX_H, GAP_X, GAP_Y, MARGIN = 200, 46, 24, 34, 20
FILL = {
    "complete": "#d8f0dc",
    "cached": "#dbe8fb",
    "failed": "#f9d6d5",
    "skipped": "#eeeeee",
    "interrupted": "#fbe7c6",
    "running": "#fff6cc",
}
STROKE = {"complete": "#2e7d32", "cached": "#1f5fbf", "failed": "#c62828", "skipped": "#9e9e9e"}


def run_graph(store: MetadataStore, run_id: str) -> LineageGraph:
    """Every execution of a run with the artifacts it read and wrote."""
    graph = LineageGraph(root=0, direction="down")
    for execution in store.executions(run_id):
        graph.executions[execution.id] = execution
        for name, artifact in store.inputs_of(execution.id).items():
            graph.artifacts[artifact.id] = artifact
            graph._add_edge(("artifact", artifact.id, "execution", execution.id, name))
        for name, artifact in store.outputs_of(execution.id).items():
            graph.artifacts[artifact.id] = artifact
            graph._add_edge(("execution", execution.id, "artifact", artifact.id, name))
    return graph


def run_lineage_svg(store: MetadataStore, run: RunRecord) -> str:
    return lineage_svg(run_graph(store, run.id), f"pipeline '{run.pipeline}', run {run.id}: {run.state}")


def lineage_svg(graph: LineageGraph, title: str = "") -> str:
    """The graph as a standalone SVG document (readable in a browser, embeddable in MLflow's artifact view)."""
    nodes = [("execution", i) for i in graph.executions] + [("artifact", i) for i in graph.artifacts]
    parents: dict[tuple[str, int], list[tuple[str, int]]] = {n: [] for n in nodes}
    for from_kind, from_id, to_kind, to_id, _ in graph.edges:
        if (to_kind, to_id) in parents and (from_kind, from_id) in parents:
            parents[(to_kind, to_id)].append((from_kind, from_id))
    column: dict[tuple[str, int], int] = {}

    def depth(node: tuple[str, int], seen: frozenset[tuple[str, int]] = frozenset()) -> int:
        if node not in column:
            ups = [p for p in parents[node] if p not in seen]
            column[node] = 1 + max((depth(p, seen | {node}) for p in ups), default=-1)
        return column[node]

    for node in nodes:
        depth(node)
    rows: dict[int, list[tuple[str, int]]] = {}
    for node in sorted(nodes, key=lambda n: (column[n], n[0], n[1])):
        rows.setdefault(column[node], []).append(node)
    where: dict[tuple[str, int], tuple[int, int]] = {}
    title_h = 30 if title else 0
    widest = max((len(m) for m in rows.values()), default=1)
    for layer, members in rows.items():  # top to bottom: pipelines are deeper than wide, and pages are tall
        indent = (widest - len(members)) * (BOX_W + GAP_X) / 2
        for place, node in enumerate(members):
            where[node] = (int(MARGIN + indent + place * (BOX_W + GAP_X)), MARGIN + title_h + layer * (BOX_H + GAP_Y))
    width = max(MARGIN * 2 + widest * (BOX_W + GAP_X) - GAP_X, 8 * len(title) + 2 * MARGIN)
    height = MARGIN * 2 + title_h + (max(rows, default=0) + 1) * (BOX_H + GAP_Y) - GAP_Y
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        'font-family="Helvetica, Arial, sans-serif" font-size="12">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" '
        'orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#666"/></marker></defs>',
        f'<rect width="{width}" height="{height}" fill="white"/>',
    ]
    if title:
        parts.append(f'<text x="{MARGIN}" y="{MARGIN + 12}" font-size="15" font-weight="bold">{escape(title)}</text>')
    for from_kind, from_id, to_kind, to_id, name in graph.edges:
        if (from_kind, from_id) not in where or (to_kind, to_id) not in where:
            continue
        x1, y1 = where[(from_kind, from_id)]
        x2, y2 = where[(to_kind, to_id)]
        ax, ay, bx, by = x1 + BOX_W / 2, y1 + BOX_H, x2 + BOX_W / 2, y2
        mid = (ay + by) / 2
        parts.append(
            f'<path d="M {ax} {ay} C {ax} {mid}, {bx} {mid}, {bx} {by}" fill="none" stroke="#888" '
            f'marker-end="url(#arrow)"><title>{escape(name)}</title></path>'
        )
    for (kind, ident), (x, y) in where.items():
        parts.append(_execution_box(graph, ident, x, y) if kind == "execution" else _artifact_box(graph, ident, x, y))
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def _execution_box(graph: LineageGraph, ident: int, x: int, y: int) -> str:
    e = graph.executions[ident]
    dashed = ' stroke-dasharray="5 3"' if e.state == "cached" else ""
    detail = f"cache hit of #{e.cached_from}" if e.cached_from is not None else e.state
    if e.duration_s is not None and e.state != "cached":
        detail += f", {e.duration_s:.1f} s"
    tip = f"execution {e.id}: {e.state}" + (f" ({e.reason})" if e.reason else "")
    return (
        f'<g class="execution"><title>{escape(tip)}</title>'
        f'<rect x="{x}" y="{y}" width="{BOX_W}" height="{BOX_H}" rx="4" fill="{FILL.get(e.state, "#fff")}" '
        f'stroke="{STROKE.get(e.state, "#555")}" stroke-width="1.5"{dashed}/>'
        f'<text x="{x + 8}" y="{y + 18}" font-weight="bold">{escape(_fit(e.component, 24))}</text>'
        f'<text x="{x + 8}" y="{y + 35}" fill="#444">{escape(_fit(f"{e.component_type} · {detail}", 30))}</text></g>'
    )


def _artifact_box(graph: LineageGraph, ident: int, x: int, y: int) -> str:
    a = graph.artifacts[ident]
    label = f"{a.type} #{a.id}"
    extra = ""
    if a.type == "ModelBlessing" and "blessed" in a.properties:
        forced = a.properties.get("forced")
        extra = "blessed by hand" if forced else "blessed" if a.properties.get("blessed") else "NOT blessed"
    elif isinstance(a.properties.get("row_counts"), dict):
        extra = f"{sum(int(v) for v in a.properties['row_counts'].values()):,} rows"
    return (
        f'<g class="artifact"><title>{escape(a.uri)}</title>'
        f'<rect x="{x}" y="{y}" width="{BOX_W}" height="{BOX_H}" rx="18" fill="#fafafa" stroke="#777"/>'
        f'<text x="{x + 12}" y="{y + 18}">{escape(_fit(label, 26))}</text>'
        f'<text x="{x + 12}" y="{y + 35}" fill="#666">{escape(_fit(extra or a.uri.rsplit("/", 2)[-2], 28))}</text></g>'
    )


def _fit(text: str, chars: int) -> str:
    return text if len(text) <= chars else text[: chars - 1] + "…"
