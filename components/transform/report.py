"""The transform as a page a person reads: every output column, the ops that made it, the frozen values.

Self-contained like the statistics report (one file, nothing loaded from
anywhere): a summary, then one row per output column with its op chain,
each op's frozen values (means and standard deviations, vocabulary size and
top entries, bucket boundaries) and what happens to nulls; then the user
function's analyzer calls, if there is one.
"""

from __future__ import annotations

import math
from typing import Any

from headrace.components.report_page import document, esc, fmt_num
from headrace.components.transform.graph import FittedTransform
from headrace.components.transform.ops import Op

TOP_ENTRIES = 8

NULLS = {
    "scale_to_z_score": "null stays null",
    "scale_to_0_1": "null stays null",
    "bucketize": "null and NaN become null",
    "vocabulary": "unchanged",
    "compute_and_apply_vocabulary": "null stays null; unseen values go to OOV buckets",
    "one_hot": "null is all zeros",
    "log1p": "null stays null",
    "clip": "null stays null",
    "hash_bucket": "null stays null",
    "cross": "null if any input is null",
    "rename": "unchanged",
}

EXTRA_CSS = """
.chain { display: flex; flex-direction: column; gap: 4px; }
.step { border-left: 3px solid #1f77b4; padding: 0 0 0 8px; }
.step .op { font-weight: 600; }
.step .vals, .step .nulls { color: var(--muted); font-size: 12.5px; }
table.stats td.l { white-space: normal; }
"""


def render_transform_html(fitted: FittedTransform, examples_label: str) -> str:
    steps = _steps_by_output(fitted)
    images = fitted.image_chains()
    output = fitted.output_schema or []
    rows = []
    for field in output:
        chain = [_image_chain_html(images[field.name])] if field.name in images else steps.get(field.name)
        if fitted.plan.user is not None:
            made = "from the ops' column of the same name" if chain else "a new column"
            chain = [
                *(chain or []),
                f'<div class="step"><span class="op">preprocessing_fn</span> <span class="muted">({made})</span></div>',
            ]
        if not chain:
            chain_html = '<span class="muted">passed through unchanged</span>'
        else:
            chain_html = "".join(chain)
        rows.append(
            f'<tr class="first"><td class="name">{esc(field.name)}<span class="type">{esc(field.type)}</span></td>'
            f'<td class="l"><div class="chain">{chain_html}</div></td></tr>'
        )
    analysis = fitted.analysis
    chips = [
        f"analyzed split <b>{esc(analysis.get('split', '?'))}</b>",
        f"{fmt_num(analysis.get('rows', 0))} rows",
        f"{analysis.get('passes', '?')} analyze pass(es)",
        f"{len(fitted.input_schema)} input → {len(output)} output columns",
    ]
    required = ", ".join(f"<code>{esc(n)}</code>" for n in fitted.required) or "none"
    body = [
        f"<h1>Transform of examples {esc(examples_label)}</h1>",
        '<div class="chips">' + "".join(f'<span class="chip">{c}</span>' for c in chips) + "</div>",
        f'<p class="note">Columns the transform reads (serving data must have them): {required}. '
        "Other input columns pass through when present.</p>",
        "<h2>Output columns</h2>",
        '<table class="stats"><thead><tr><th class="l">column</th><th class="l">made by</th></tr></thead>',
        "<tbody>" + "".join(rows) + "</tbody></table>",
    ]
    if fitted.plan.user is not None:
        body.append(_user_section(fitted))
    page = document(f"Transform of examples {examples_label}", "\n".join(body))
    return page.replace("</style>", EXTRA_CSS + "</style>", 1)


def _steps_by_output(fitted: FittedTransform) -> dict[str, list[str]]:
    """For each column after the ops: the HTML of each op that made it, in order."""
    steps: dict[str, list[str]] = {name: [] for name in fitted.input_schema.names}
    for op in fitted.plan.ops:
        columns = op.columns or []
        if op.name == "drop":
            for name in columns:
                steps.pop(name, None)
            continue
        if op.name == "rename":
            mapping = op.args["columns"]
            steps = {mapping.get(k, k): [*v, _step(op, k, None)] if k in mapping else v for k, v in steps.items()}
            continue
        if op.name == "cross":
            target = op.args.get("output") or "_x_".join(columns)
            steps[target] = [_step(op, ", ".join(columns), None)]
            continue
        for name in columns:
            value = fitted.values.get(op.key(name))
            step = _step(op, name, value)
            if op.name == "one_hot":
                before = steps.pop(name, [])
                values = (value or {}).get("values", [])
                produced = [f"{name}_{v}" for v in values] + (
                    [f"{name}_OOV"] if op.args.get("oov_column", True) else []
                )
                for target in produced:
                    steps[target] = [*before, step]
            else:
                target = name + op.args["suffix"] if op.args.get("suffix") else name
                steps[target] = [*steps.get(name, []), step]
    return steps


def _step(op: Op, column: str, value: dict[str, Any] | None) -> str:
    label = op.describe() if op.name != "cross" else f"cross of {column}"
    if op.name == "rename":
        label = f"renamed from {column}"
    nulls = NULLS.get(op.name, "")
    if op.name == "fill_missing":
        nulls = f"nulls become {_fill_value(op, value)}"
    return (
        f'<div class="step"><span class="op">{esc(label)}</span> <span class="muted mono">ops[{op.index}]</span>'
        f'<div class="vals">{_values_html(op, value)}</div>'
        + (f'<div class="nulls">nulls: {esc(nulls)}</div>' if nulls else "")
        + "</div>"
    )


def _image_chain_html(chain: Any) -> str:
    """An image column's steps as TensorFlow runs them (in tf.data and in the served model), frozen values shown."""
    stats = chain.stats
    described = []
    for step in chain.steps:
        if step["op"] == "decode_image":
            counts = ", ".join(f"{n} with {c} channel(s)" for c, n in stats.get("channels", {}).items())
            shapes = ", ".join(f"{shape} ({n})" for shape, n in list(stats.get("shapes", {}).items())[:TOP_ENTRIES])
            size = chain.size
            label = f"decode to {step['channels']} channels"
            values = f"analyzed: {fmt_num(stats.get('count', 0))} images ({counts}); shapes {shapes}" + (
                f"; {stats['undecodable']} undecodable" if stats.get("undecodable") else ""
            )
            if size and not any(s["op"] == "resize" for s in chain.steps):
                values += f"; every image must be {size[0]}x{size[1]} (no resize)"
        elif step["op"] == "resize":
            label = f"resize to {step['height']}x{step['width']} ({step['interpolation']})"
            values = "Keras Resizing, each image"
        elif step["op"] == "rescale":
            label = f"rescale by 1/{round(1 / step['scale'])}"
            values = "Keras Rescaling"
        else:
            label = "normalize per channel"
            values = "; ".join(
                f"mean {fmt_num(m)}, std {fmt_num(math.sqrt(v))}"
                for m, v in zip(step["mean"], step["variance"], strict=True)
            )
        described.append(
            f'<div class="step"><span class="op">{esc(label)}</span> <span class="muted mono">{esc(step["where"])}'
            f'</span><div class="vals">{esc(values)}</div></div>'
        )
    note = (
        '<div class="nulls">pixels: float32 [batch, '
        f"{chain.size[0] if chain.size else '?'}, {chain.size[1] if chain.size else '?'}, {chain.channels}], "
        "made by TensorFlow in tf_dataset and the SavedModel; the examples keep the encoded bytes</div>"
    )
    return "".join(described) + note


def _fill_value(op: Op, value: dict[str, Any] | None) -> str:
    strategy = op.args.get("strategy")
    if strategy == "constant":
        return repr(op.args.get("value"))
    if value is None:
        return "?"
    if strategy == "mean":
        return f"the mean {fmt_num(value.get('mean'))}"
    if strategy == "median":
        return f"the median {fmt_num((value.get('boundaries') or [None])[0])}"
    return f"the mode {(value.get('values') or [None])[0]!r}"


def _values_html(op: Op, value: dict[str, Any] | None) -> str:
    if value is None or op.name == "fill_missing":  # the fill value is on the nulls line
        return ""
    if op.name in ("scale_to_z_score", "scale_to_0_1") or "mean" in value:
        std = math.sqrt(value["var"]) if value.get("var") is not None else None
        return esc(
            f"mean {fmt_num(value.get('mean'))}, std {fmt_num(std)}, min {fmt_num(value.get('min'))}, "
            f"max {fmt_num(value.get('max'))} over {fmt_num(value.get('count'))} values"
        )
    if "boundaries" in value:
        bounds = ", ".join(fmt_num(b) for b in value["boundaries"])
        error = f" (rank error ≤ {value['error']:.2%})" if value.get("error") else ""
        return esc(f"boundaries {bounds}{error}")
    if "values" in value:
        entries = ", ".join(
            f"{v!r} ({fmt_num(c)})"
            for v, c in zip(value["values"][:TOP_ENTRIES], value["counts"][:TOP_ENTRIES], strict=True)
        )
        more = f", … {len(value['values']) - TOP_ENTRIES} more" if len(value["values"]) > TOP_ENTRIES else ""
        exact = "" if value.get("exact", True) else " (approximate counts)"
        return esc(f"vocabulary of {len(value['values'])}: {entries}{more}{exact}")
    return ""


def _user_section(fitted: FittedTransform) -> str:
    user = fitted.plan.user
    assert user is not None
    prefix = "preprocessing_fn:"
    calls = sorted((k, v) for k, v in fitted.values.items() if k.startswith(prefix))
    rows = []
    for key, value in calls:
        _, number, label = key.split(":", 2)
        shown = (
            _values_html(Op(0, label, {}, ""), value)
            if label != "vocabulary"
            else _values_html(Op(0, "vocabulary", {}, ""), value)
        )
        rows.append(f"<tr><td>#{int(number)}</td><td><code>tx.{esc(label)}</code></td><td>{shown}</td></tr>")
    return (
        "<h2>preprocessing_fn</h2>"
        f'<p class="note"><code>{esc(user.function)}</code> from <code>{esc(user.filename.rsplit("/", 1)[-1])}</code> '
        f"(sha256 <span class=mono>{esc(user.fingerprint[:16])}</span>…), its analyzer calls in order:</p>"
        '<table class="index"><thead><tr><th>call</th><th>analyzer</th><th>frozen value</th></tr></thead><tbody>'
        + "".join(rows)
        + "</tbody></table>"
    )
