"""The evaluation as a page a person reads: the verdict first, then why, then the detail.

Self-contained like the other reports (one file, nothing loaded from
anywhere): the blessing verdict and each threshold line, the headline
metrics beside the baseline's, the confusion matrix as a heat table (this
model's and the baseline's side by side), per-class figures, and one table per
slicing with every slice's rows and metrics (tiny slices flagged).
"""

from __future__ import annotations

from typing import Any

from headrace.components.evaluator.metric_names import ALL, DESCRIPTIONS, HIGHER
from headrace.components.evaluator.slicing import display
from headrace.components.evaluator.worst import BY_PROBABILITY, THUMBNAIL
from headrace.components.report_page import document, esc, fmt_num, thumbnail_img

EXTRA_CSS = """
table.stats td.metric { text-align: left; font-weight: 600; }
table.stats td.metric .type { display: block; font-weight: 400; color: var(--muted); font-size: 12px; white-space: normal; }
td.better { color: var(--ok); } td.worse { color: var(--err); }
td.pass { color: var(--ok); font-weight: 600; } td.fail { color: var(--err); font-weight: 600; }
td.skip { color: var(--muted); font-style: italic; }
tr.tiny td { color: var(--muted); }
.base { display: block; color: var(--muted); font-size: 11.5px; }
table.heat { border-collapse: collapse; font-variant-numeric: tabular-nums; margin-top: 4px; }
table.heat th { font-size: 12px; color: var(--muted); font-weight: 600; padding: 4px 8px; text-align: center; }
table.heat th.row { text-align: right; }
table.heat td { width: 64px; height: 40px; text-align: center; border: 1px solid #fff; font-weight: 600; }
table.heat td.total { background: none; color: var(--muted); font-weight: 400; }
.axis { font-size: 12px; color: var(--muted); }
table.heat.compact td { width: 34px; height: 26px; font-size: 11.5px; }
table.heat.compact th { padding: 2px 4px; font-size: 11px; }
.worst { display: flex; flex-wrap: wrap; gap: 10px; margin-top: 8px; }
.worst .card { width: 150px; border: 1px solid var(--line); border-radius: 6px; padding: 6px; font-size: 12px;
               display: flex; flex-direction: column; gap: 2px; }
.worst .card .img { height: 100px; display: flex; align-items: center; justify-content: center; background: #f7f8fa; }
.worst .card img { display: block; }
.worst .card img.px { image-rendering: pixelated; }
.worst .card .path { font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 11px; color: var(--muted);
                     word-break: break-all; }
.worst .card .wrong { color: var(--err); font-weight: 600; }
.worst .card .right { color: var(--ok); font-weight: 600; }
.filter { display: flex; flex-wrap: wrap; gap: 4px; align-items: center; font-size: 12px; }
.filter input { display: none; }
.filter .worst { flex-basis: 100%; }
.filter label { border: 1px solid var(--line); border-radius: 12px; padding: 1px 9px; cursor: pointer; }
.filter input:checked + label { background: #1d2733; color: #fff; border-color: #1d2733; }
"""
COMPACT_FROM = 8
"""Confusion matrices over more classes than this are drawn with small cells, so ten digits fit beside the baseline's."""
WORST_BOX = THUMBNAIL
"""Pixels a worst-classified image is drawn in; small ones (8x8 digits) are enlarged, pixelated, up to 64."""


def render_evaluation_html(
    doc: dict[str, Any], model_label: str, thumbnails: list[dict[str, Any]] | None = None
) -> str:
    """The page of ``doc`` (metrics.json); ``thumbnails``: the worst-classified images', in ``doc``'s order."""
    task = doc["task"]
    blessing = doc["blessing"]
    baseline = doc["baseline"]
    rows = doc["rows"]
    chips = [
        f"{esc(task)} model of <b>{esc(doc['label'])}</b>",
        f"split <b>{esc(doc['split'])}</b>: {fmt_num(rows['evaluated'])} rows",
        f"baseline: model {esc((baseline['fingerprint'] or '')[:12])}" if baseline["used"] else "no baseline",
    ]
    if doc.get("classes"):
        chips.insert(1, f"{len(doc['classes'])} classes")
    verdict = "ok" if blessing["blessed"] else "error"
    title = "Blessed" if blessing["blessed"] else "Not blessed"
    body = [
        f"<h1>Evaluation of model {esc(model_label)}</h1>",
        '<div class="chips">' + "".join(f'<span class="chip">{c}</span>' for c in chips) + "</div>",
        f'<div class="banner {verdict}" id="verdict">{title}</div>',
        f'<p class="note">{esc(_sentence(blessing["summary"]))}</p>',
        "<h2>Thresholds</h2>",
        _thresholds(blessing["checks"]),
        "<h2>Metrics</h2>",
        _headline(doc),
    ]
    confusion = doc["model"].get("confusion_matrix")
    if confusion:
        figures = [_heat(confusion, "this model")]
        if baseline.get("confusion_matrix"):
            figures.append(_heat(baseline["confusion_matrix"], "baseline"))
        body += [
            "<h2>Confusion matrix</h2>",
            '<p class="note">Rows are the labels, columns the predictions; the shade is the share of its row.</p>',
            '<div class="figures">' + "".join(figures) + "</div>",
        ]
    if doc["model"].get("per_class"):
        body += ["<h2>Per class</h2>", _per_class(doc["model"]["per_class"], baseline.get("per_class"))]
    if doc.get("worst_images") is not None:
        body += _worst(doc["worst_images"], thumbnails or [], doc["split"])
    if doc["slices"]:
        body.append("<h2>Slices</h2>")
        body.append(
            f'<p class="note">Metrics per value of the slice columns (null values form the slice "null"). '
            f"Slices with fewer than {fmt_num(doc['min_slice_rows'])} rows are marked tiny: their metrics are noisy."
            + (" The baseline's value is under each figure." if baseline["used"] else "")
            + "</p>"
        )
        for slicing in doc["slices"]:
            body.append(_slice_table(slicing, doc["headline"], baseline["used"]))
    body += _notes(doc)
    page = document(f"Evaluation of model {model_label}", "\n".join(body))
    return page.replace("</style>", EXTRA_CSS + "</style>", 1)


def _sentence(summary: str) -> str:
    return summary[0].upper() + summary[1:] + "." if summary else ""


def _num(value: float | None) -> str:
    return "–" if value is None else f"{value:.4g}"


def _thresholds(checks: list[dict[str, Any]]) -> str:
    if not checks:
        return '<p class="note">No thresholds are set: the model is blessed without checks.</p>'
    rows = []
    for c in checks:
        result = {"pass": "pass", "fail": "fail"}.get(c["result"], "skip")
        compared = _num(c["bound"]) if c["bound"] is not None else "–"
        rows.append(
            f'<tr><td class="metric">{esc(c["metric"])}</td><td class="l"><code>{esc(c["kind"])}: '
            f"{_num(c['threshold'])}</code></td><td>{_num(c['value'])}</td><td>{_num(c['baseline'])}</td>"
            f'<td>{compared}</td><td class="{result} l">{esc(c["result"])}</td>'
            f'<td class="l muted">{esc(c["text"])}</td></tr>'
        )
    head = "".join(
        f'<th class="{"l" if h in ("metric", "threshold", "result", "") else ""}">{h}</th>'
        for h in ("metric", "threshold", "value", "baseline", "compared with", "result", "")
    )
    return f'<table class="stats" id="thresholds"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


def _change_cell(metric: str, value: float | None, base: float | None) -> str:
    if value is None or base is None:
        return "<td>–</td>"
    change = value - base
    if change == 0:
        return "<td>±0</td>"
    good = (change > 0) == (ALL.get(metric, HIGHER) == HIGHER)
    return f'<td class="{"better" if good else "worse"}">{change:+.4g}</td>'


def _headline(doc: dict[str, Any]) -> str:
    ours, baseline = doc["model"], doc["baseline"]
    theirs = baseline.get("metrics") or {}
    undefined = ours.get("undefined") or {}
    rows = []
    for metric, value in ours["metrics"].items():
        about = DESCRIPTIONS.get(metric, "")
        if value is None and metric in undefined:
            about = f"undefined: {undefined[metric]}"
        rows.append(
            f'<tr><td class="metric">{esc(metric)}<span class="type">{esc(about)}</span></td>'
            f"<td>{_num(value)}</td><td>{_num(theirs.get(metric)) if baseline['used'] else '–'}</td>"
            + _change_cell(metric, value, theirs.get(metric))
            + "</tr>"
        )
    return (
        '<table class="stats" id="metrics" style="width:auto"><thead><tr><th class="l">metric</th><th>this model</th>'
        f"<th>baseline</th><th>change</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )


def _heat(confusion: dict[str, Any], caption: str) -> str:
    labels, matrix = confusion["labels"], confusion["matrix"]
    compact = " compact" if len(labels) > COMPACT_FROM else ""
    head = "".join(f"<th>{esc(display(label))}</th>" for label in labels)
    rows = []
    for label, counts in zip(labels, matrix, strict=True):
        total = sum(counts)
        cells = []
        for j, count in enumerate(counts):
            share = count / total if total else 0.0
            rgb = "27,122,58" if labels[j] == label else "198,40,40"
            ink = "#fff" if share > 0.55 else "#1d2733"
            cells.append(
                f'<td style="background:rgba({rgb},{0.08 + 0.92 * share:.3f});color:{ink}" '
                f'title="{esc(display(label))} predicted as {esc(display(labels[j]))}: {count}">{count}</td>'
                if count
                else '<td style="background:#f7f8fa;color:#a3a3a3">0</td>'
            )
        rows.append(
            f'<tr><th class="row">{esc(display(label))}</th>{"".join(cells)}<td class="total">{total}</td></tr>'
        )
    return (
        f'<div class="figure"><div class="caption">{esc(caption)}</div>'
        f'<table class="heat{compact}"><thead><tr><th class="row axis">label ↓ predicted →</th>{head}'
        f'<th class="axis">rows</th></tr></thead><tbody>{"".join(rows)}</tbody></table></div>'
    )


def _per_class(per_class: list[dict[str, Any]], baseline: list[dict[str, Any]] | None) -> str:
    theirs = {display(c["class"]): c for c in baseline or []}
    rows = []
    for c in per_class:
        base = theirs.get(display(c["class"]))
        cells = "".join(f"<td>{_num(c[k])}</td>" for k in ("precision", "recall", "f1", "roc_auc"))
        base_cell = f"<td>{_num(base['f1'] if base else None)}</td>" if baseline is not None else ""
        rows.append(
            f'<tr><td class="metric">{esc(display(c["class"]))}</td><td>{fmt_num(c["support"])}</td>{cells}{base_cell}</tr>'
        )
    extra = "<th>baseline F1</th>" if baseline is not None else ""
    return (
        '<table class="stats" id="per-class" style="width:auto"><thead><tr><th class="l">class</th><th>rows</th>'
        f"<th>precision</th><th>recall</th><th>F1</th><th>ROC AUC</th>{extra}</tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def _worst(worst: dict[str, Any], thumbnails: list[dict[str, Any]], split: str) -> list[str]:
    """The worst-classified images as cards (thumbnail, path, label, prediction, probability), filterable by label.

    The filter is radio buttons and CSS alone: the page runs no script.
    """
    rows = worst["rows"]
    if worst["by"] == BY_PROBABILITY:
        about = (
            f"The {fmt_num(len(rows))} rows of split {esc(split)} whose true class got the lowest probability "
            "from the model, lowest first (ties by path)."
        )
    else:
        about = (
            f"The model gives no class probabilities: {fmt_num(len(rows))} misclassified rows of split "
            f"{esc(split)}, by path."
        )
    head = [
        "<h2>Worst-classified images</h2>",
        f'<p class="note">{about} Column <code>{esc(worst["column"])}</code>.</p>',
    ]
    if not rows:
        return [*head, '<p class="note">No row was misclassified.</p>']
    labels = sorted({display(r["label"]) for r in rows})
    index = {label: i for i, label in enumerate(labels)}
    css, buttons = [], ['<input type="radio" name="worst" id="worst-all" checked><label for="worst-all">all</label>']
    for label, i in index.items():
        count = sum(display(r["label"]) == label for r in rows)
        buttons.append(
            f'<input type="radio" name="worst" id="worst-{i}"><label for="worst-{i}">{esc(label)} ({count})</label>'
        )
        css.append(f"#worst-{i}:checked ~ .worst .card:not(.t{i}) {{ display: none; }}")
    cards = []
    for row, thumb in zip(rows, thumbnails or [{}] * len(rows), strict=True):
        label, predicted = display(row["label"]), display(row["predicted"])
        if "data" in thumb:
            image = thumbnail_img(
                thumb["media_type"], thumb["data"], thumb["width"], thumb["height"], label, row["path"], WORST_BOX, 64
            )
        else:
            image = f'<span class="caption">{esc(thumb.get("problem", "no thumbnail"))}</span>'
        verdict = "right" if label == predicted else "wrong"
        probability = "" if row["probability"] is None else f"<span>p(true) = {row['probability']:.4g}</span>"
        cards.append(
            f'<div class="card t{index[label]}"><div class="img">{image}</div>'
            f'<span class="path" title="row {row["row"]}">{esc(row["path"])}</span>'
            f"<span>true <b>{esc(label)}</b></span>"
            f'<span>predicted <span class="{verdict}">{esc(predicted)}</span></span>{probability}</div>'
        )
    return [
        *head,
        f"<style>{' '.join(css)}</style>",
        '<div class="filter" id="worst-images"><span class="muted">true class:</span>'
        + "".join(buttons)
        + f'<div class="worst">{"".join(cards)}</div></div>',
    ]


def _slice_table(slicing: dict[str, Any], headline: list[str], with_baseline: bool) -> str:
    columns = slicing["columns"]
    head = "".join(f"<th>{esc(m)}</th>" for m in headline)
    rows = []
    for entry in slicing["slices"]:
        cells = []
        for metric in headline:
            value = entry["metrics"].get(metric)
            base = f'<span class="base">{_num(entry.get("baseline", {}).get(metric))}</span>' if with_baseline else ""
            why = (entry.get("undefined") or {}).get(metric)
            cells.append(f'<td title="{esc(why)}">{_num(value)}{base}</td>' if why else f"<td>{_num(value)}{base}</td>")
        flag = ' <span class="badge warning">tiny</span>' if entry["tiny"] else ""
        label = ", ".join(f"{esc(c)}={esc(display(v))}" for c, v in entry["values"].items())
        rows.append(
            f'<tr class="{"tiny" if entry["tiny"] else ""}"><td class="l">{label}{flag}</td>'
            f"<td>{fmt_num(entry['rows'])}</td>{''.join(cells)}</tr>"
        )
    omitted = (
        f'<p class="note">{fmt_num(slicing["omitted"])} smaller slices are left out.</p>' if slicing["omitted"] else ""
    )
    return (
        f"<h3>by {esc(', '.join(columns))}</h3>"
        f'<table class="stats slices" style="width:auto"><thead><tr><th class="l">slice</th><th>rows</th>{head}</tr>'
        f"</thead><tbody>{''.join(rows)}</tbody></table>{omitted}"
    )


def _notes(doc: dict[str, Any]) -> list[str]:
    notes = []
    rows = doc["rows"]
    if rows["without_label"]:
        notes.append(
            f"{fmt_num(rows['without_label'])} of {fmt_num(rows['read'])} rows have no label and were left out."
        )
    if not doc["baseline"]["used"]:
        notes.append(_sentence(doc["baseline"]["note"]))
    if not notes:
        return []
    return ["<h2>Notes</h2>", "<ul>" + "".join(f"<li>{esc(n)}</li>" for n in notes) + "</ul>"]
