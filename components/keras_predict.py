"""A Keras model behind the transform: its named inputs, its scores, and the labels read from them.

A Keras network trained on ``ctx.train.tf_dataset`` takes a dict of 1-d
arrays, one per transformed column, typed and null-encoded as
``headrace.components.tensorflow.tensors`` says; this module hands it the
same arrays for the transformed rows of a request, so serving feeds it what
training fed it. A classifier's output is one score per class, in the order
of the classes the trainer recorded (``ctx.classes``: the label's sorted
values; training fed the label as an index into them): ``predict`` is the
class of the largest score, ``predict_proba`` the scores (a single sigmoid
output ``p`` counts as the two classes ``[1 - p, p]``). A regressor's output
is its one column.

Neither TensorFlow nor Keras is imported here: the model object brings them.
"""

from __future__ import annotations

from typing import Any

from headrace.components.contract import ComponentError


def input_names(model: Any) -> list[str]:
    """The names of a Keras model's inputs (``keras.Input(name=...)``), in its order."""
    return [str(getattr(tensor, "name", "") or "") for tensor in getattr(model, "inputs", None) or []]


def model_features(model: Any, features: list[str], said: str) -> list[str]:
    """The feature columns a Keras model takes: its inputs, named for columns, or an error saying how to name them."""
    names = input_names(model)
    unknown = [n for n in names if n not in features]
    if not names or unknown:
        got = f"inputs named {', '.join(repr(n) for n in unknown)}" if unknown else "no named inputs"
        raise ComponentError(
            f"{said} returned a Keras model with {got}; give it one input per feature column it reads, named for "
            f"the column (keras.Input(shape=(1,), name=column)), from: {', '.join(features)}"
        )
    return names


def check_trained(model: Any, said: str) -> None:
    """A Keras model that was never compiled, or never fitted, cannot be what the user meant to return."""
    if getattr(model, "optimizer", None) is None or not getattr(model, "compiled", True):
        raise ComponentError(
            f"{said} returned a Keras model that was never compiled; call model.compile(optimizer, loss) and "
            "model.fit(ctx.train.tf_dataset(...)) before returning it"
        )
    iterations = getattr(model.optimizer, "iterations", None)
    if iterations is not None and int(iterations.numpy() if hasattr(iterations, "numpy") else iterations) == 0:
        raise ComponentError(
            f"{said} returned a Keras model that was never fitted (its optimizer took no step); call "
            "model.fit(ctx.train.tf_dataset(...)) before returning it"
        )


def inputs(transformed: Any, features: list[str], transform: Any = None) -> dict[str, Any]:
    """The model's input for transformed rows (an Arrow Table or RecordBatch): one array per feature, by name.

    Integer nulls (which training refuses unless the user passed ``int_null``)
    are sent as ``INT_NULL``, the serving signature's integer null. An image
    column with steps in ``transform`` (a ``FittedTransform``) is decoded and
    scaled by the same Keras layers ``tf_dataset`` ran (``image_layers``).
    """
    from headrace.components.tensorflow.tensors import INT_NULL, column_array, tensor_dtype

    chains = transform.image_chains() if transform is not None and transform.plan.images else {}
    arrays = {}
    for name in features:
        column = transformed.column(name)
        if hasattr(column, "combine_chunks"):
            column = column.combine_chunks()
        arrays[name] = column_array(name, column, int_null=INT_NULL, dtype=tensor_dtype(name, column.type))
        if name in chains:
            from headrace.components.tensorflow.image_layers import decode_images

            arrays[name] = decode_images(chains[name], arrays[name])
    return arrays


def scores(model: Any, arrays: dict[str, Any], task: str) -> Any:
    """The model's output as a float64 matrix: one column per class (classification), or one column."""
    import numpy as np

    out = np.asarray(model.predict(arrays, verbose=0), dtype=np.float64)
    if out.ndim == 1:
        out = out[:, None]
    if task == "classification" and out.shape[1] == 1:  # one sigmoid unit: the second of two classes
        out = np.column_stack([1.0 - out[:, 0], out[:, 0]])
    return out


def labels(model: Any, arrays: dict[str, Any], task: str, classes: list[Any] | None) -> Any:
    """One prediction per row: the class with the largest score, or the regressor's value."""
    return labels_of(scores(model, arrays, task), task, classes)


def labels_of(out: Any, task: str, classes: list[Any] | None) -> Any:
    """The predictions :func:`labels` reads from the matrix :func:`scores` gave (to score once for both)."""
    import numpy as np

    if task != "classification":
        return out[:, 0]
    known = list(classes or [])
    if out.shape[1] != len(known):
        raise ComponentError(
            f"the Keras model gives {out.shape[1]} scores per row, but the label has {len(known)} classes "
            f"({', '.join(map(repr, known))}); end the model in Dense({len(known)}, activation='softmax')"
        )
    values = np.asarray(known)
    if values.dtype.kind not in "iub":  # numbers stay numbers (scikit-learn's metrics call an object array "unknown")
        values = np.asarray(known, dtype=object)
    return values[np.argmax(out, axis=1)]
