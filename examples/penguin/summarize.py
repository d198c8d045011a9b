"""A user component written with ``@component``: the label's class balance per split.

It shows the whole contract of a user component: an input artifact
(``Examples``), an output of a custom artifact type (``ClassBalance``), a typed
parameter (``label``) and metrics returned as a dict.
"""

import json
import os

from headrace.components import Artifact, Examples, Output, component


class ClassBalance(Artifact):
    """Counts of each label value per split, as ``balance.json``."""


@component
def class_balance(examples: Examples, balance: Output[ClassBalance], label: str = "species") -> dict:
    """Count the label values in every split and report the share of the rarest class."""
    import pyarrow.compute as pc  # imported here so that validating the pipeline stays fast

    counts: dict[str, dict[str, int]] = {}
    for split in examples.splits:
        split_counts: dict[str, int] = {}
        for batch in examples.batches(split, columns=[label]):
            for row in pc.value_counts(batch.column(0)).to_pylist():
                key = str(row["values"])
                split_counts[key] = split_counts.get(key, 0) + row["counts"]
        counts[split] = dict(sorted(split_counts.items()))
    os.makedirs(balance.uri, exist_ok=True)
    with open(os.path.join(balance.uri, "balance.json"), "w") as f:
        json.dump(counts, f, indent=2, sort_keys=True)
    balance.properties["counts"] = counts
    train = counts.get("train", {})
    total = sum(train.values()) or 1
    return {"rarest_class_share": min(train.values(), default=0) / total}
