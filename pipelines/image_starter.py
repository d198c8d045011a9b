"""``headrace init DIR --data FOLDER`` for an image folder: a pipeline like examples/digits, sized from the data.

The folder is listed the way ingest will list it (``list_image_folder``: the
same class folders, the same refusals), and the label is the class folder's
name, so no ``--label`` is needed. The trainer's model.py is examples/digits'
CNN itself (the package's ``image_model.py.tmpl`` is that file), which reads
its input shape from the data and its outputs from ``ctx.classes``.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import dataclass, field
from importlib import resources
from typing import TYPE_CHECKING

from headrace.components.problems import Problem, ProblemError
from headrace.pipelines.starter_text import PUSHER, comment, names_text, scalar

if TYPE_CHECKING:
    from headrace.pipelines.image_tables import ImageColumn

IMAGE_LABEL = "label"
"""The column ingest writes an image's class folder name into."""
MODEL_TEMPLATE = "image_model.py.tmpl"


@dataclass(frozen=True)
class ImagePlan:
    """The classes and their image counts, and the accuracy bar a useful model clears."""

    classes: dict[str, int]
    minimum: float
    baseline_note: str
    sizes: dict[tuple[int, int], int] = field(default_factory=dict)
    """(height, width) -> how many images have it, most common first (from the files' headers, as ingest reads them)."""
    size: tuple[int, int] | None = None
    """The size ingest gives every image: the most common one (``majority_shape``'s ties), None if none was readable."""
    label: str = IMAGE_LABEL
    table: ImageColumn | None = None
    """A table's image column (``image_tables``); None for an image folder."""
    warnings: list[str] = field(default_factory=list)

    @property
    def images(self) -> int:
        return sum(self.classes.values())


def plan_images(source: str, shown: str, label: str | None, task: str | None) -> ImagePlan:
    """The plan for the image folder ``source`` (``shown``: as the user gave it, for messages).

    Raises ``ProblemError`` naming the folder for a ``--label`` other than the class folder, a regression
    ``--task``, a folder ingest would refuse, or a single class.
    """
    from headrace.components.ingest.image_files import majority_shape
    from headrace.components.ingest.image_folders import list_image_folder
    from headrace.components.ingest.image_plan import read_image_header

    if label is not None and label != IMAGE_LABEL:
        raise _error(
            shown,
            f"--label {label!r}: in an image folder the label is each image's class folder, the column {IMAGE_LABEL!r}",
            f"leave out --label (or pass --label {IMAGE_LABEL})",
        )
    if task == "regression":
        raise _error(
            shown, "--task regression: an image folder's classes are categories", "leave out --task for images"
        )
    try:
        folder = list_image_folder(source)
    except ProblemError as exc:  # the folder is what the user gave, whatever place ingest names
        raise ProblemError(*(p if p.file else p.in_file(shown) for p in exc.problems)) from None
    if len(folder.images) < 2:
        only = next(iter(folder.images), "")
        raise _error(
            shown,
            f"the image folder has one class folder ({only!r}); a classifier needs at least two classes",
            "add a folder of images for each other class (<folder>/<class>/<image>.png)",
        )
    top = max(folder.images, key=lambda name: folder.images[name])
    share = folder.images[top] / sum(folder.images.values())
    shapes = [read_image_header(location) for location in folder.locations]
    sizes = Counter(shape[:2] for shape in shapes if shape is not None)
    return ImagePlan(
        classes=dict(folder.images),
        minimum=math.floor(share * 100) / 100,
        baseline_note=f"as accurate as always answering the most frequent class ({top!r}, {share:.0%} of the images)",
        sizes=dict(sizes.most_common()),
        size=majority_shape(shapes)[0],
    )


def _error(source: str, message: str, hint: str) -> ProblemError:
    return ProblemError(Problem(source, 0, 0, message, hint))


def image_model_py(plan: ImagePlan | None = None) -> str:
    """model.py: examples/digits' CNN, sized from the data and ``ctx.classes``; for a tensor column, fed by it."""
    text = (resources.files("headrace.pipelines") / "starter_template" / MODEL_TEMPLATE).read_text(encoding="utf-8")
    if plan is None or plan.table is None or plan.table.names_files:
        return text  # ingest puts an image file's bytes into the column "image"
    text = text.replace("for any image folder", "for any images").replace("an image file's bytes", "the pixels")
    return text.replace('"image"', json.dumps(plan.table.name)).replace("``image``", f"``{plan.table.name}``")


def image_pipeline_yaml(plan: ImagePlan, name: str, source: str, shown_source: str) -> str:
    """pipeline.yaml for the image folder or table ``source`` (relative to the file); the steps of examples/digits."""
    classes = list(plan.classes)
    table = plan.table
    what = (
        f"the image folder {shown_source}: classify each image into its class folder's name"
        if table is None
        else f"the table {shown_source}: classify each image (the column {scalar(table.name)}) into its "
        f"{scalar(plan.label)}"
    )
    taken = "the pixels" if table is not None and not table.names_files else "an image file's bytes"
    lines = [
        "# yaml-language-server: $schema=headrace.schema.json",
        *comment(
            f"Written by `headrace init` for {what} ({len(classes)} classes: {names_text(classes)}; {plan.images} "
            "images). Run it with "
            "`headrace run pipeline.yaml`; its paths are relative to this file, so it runs from any directory. Every "
            "step is a starting point: the comments say why it is there and what to edit; `headrace validate "
            "pipeline.yaml` checks an edited file before anything runs. Needs the extra: pip install "
            "'headrace[tensorflow]'.",
            0,
        ),
        f"name: {scalar(name)}",
        "root: ./runs                          # artifacts and logs, relative to this file",
        "metadata: sqlite:///runs/metadata.db  # the metadata store (PostgreSQL/MySQL URLs work too)",
        "components:",
        *_ingest_lines(plan, source),
        "  # Per split: image shapes and channels, pixel mean and standard deviation, sizes, class counts, and",
        "  # thumbnails of each class (an HTML page: see `headrace show RUN_ID`).",
        "  statistics:",
        "    type: statistics",
        "    inputs:",
        "      examples: ingest.examples",
        "  # The data's contract (image shape and channels, the classes), inferred from the train split on every run",
        "  # for now. To fix it: copy the schema.yaml of this step's output (its path is in `headrace show RUN_ID`)",
        "  # next to this file, review it, and add `params: {path: schema.yaml}` here.",
        "  schema:",
        "    type: schema",
        "    inputs:",
        "      statistics: statistics.statistics",
        "  # Checks every split against the schema (a shape, channel count or class it does not allow, undecodable",
        "  # images) and the eval split's brightness, contrast and class balance against train's: an anomaly of",
        "  # severity error stops the run before training.",
        "  validator:",
        "    type: validator",
        "    inputs:",
        "      statistics: statistics.statistics",
        "      schema: schema.schema",
        "    params:",
        "      fail_on: error",
        *comment(
            f"The images stay {'encoded bytes' if taken != 'the pixels' else 'pixels'} in the examples; the "
            "transform records TensorFlow steps (decode_image, then per-channel z-scores with the train split's pixel mean "
            "and variance) that run in the trainer's tf.data pipeline and in front of the served model alike, so "
            "serving cannot skew from training.",
            2,
        ),
        "  transform:",
        "    type: transform",
        "    inputs:",
        "      examples: ingest.examples",
        "      schema: schema.schema",
        "    params:",
        "      ops:",
        "        - decode_image: {select: {type: image}, channels: auto}   # the train split's most common channel count",
        *_resize_lines(plan),
        "        - scale_to_z_score: {select: {type: image}}",
        *comment(
            "Trains model.py's train(ctx), a small CNN (Conv2D -> Conv2D -> GlobalAveragePooling2D -> Dense softmax) "
            "sized from the data and ctx.classes, on the transformed train split. It is saved with the transform's "
            f"layers in front, so the model takes {taken}. hyperparameters are model.py's own (epochs, "
            "batch_size, learning_rate, filters); seed seeds Keras.",
            2,
        ),
        *_other_columns_lines(plan),
        "  trainer:",
        "    type: trainer",
        "    inputs:",
        "      examples: transform.transformed_examples",
        "      transform_graph: transform.transform_graph",
        "      raw_examples: ingest.examples   # the model's input example: raw rows",
        "    params:",
        "      module: model.py",
        f"      label: {scalar(plan.label)}",
        "      hyperparameters: {epochs: 20, batch_size: 32, learning_rate: 0.01}",
        "      seed: 0",
        "      # Random changes of the train images each epoch (flip only where a mirrored image is the same class):",
        "      # augment: {rotation: 0.05, translation: 0.1, flip: horizontal}",
        "      # export: tflite   # also a TFLite file taking uint8 pixels,",
        "      # quantize: int8   # full-integer (calibrated on raw train rows)",
        "  # Judges the model on the raw eval rows, through the packaged model exactly as serving will: accuracy",
        "  # overall and per class, a confusion matrix and the worst-classified images, then thresholds decide the",
        "  # blessing the pusher obeys. A model that misses them is not blessed; the run goes on and says why. The",
        "  # baseline, the newest model this pipeline blessed before, is shown side by side.",
        "  evaluator:",
        "    type: evaluator",
        "    inputs:",
        "      model: trainer.model",
        "      examples: ingest.examples                         # raw rows: the model carries its transform",
        "      baseline: {latest: trainer.model, blessed: true}  # none for the first model",
        "      schema: schema.schema",
        "    params:",
        f"      slices: [[{scalar(plan.label)}]]   # metrics per class, too",
        "      thresholds:",
        *comment(
            f"A low bar on purpose: {plan.baseline_note}, which any useful model clears. Raise it to what your use "
            "needs, and add a change threshold against the baseline, e.g. {min: 0.9, max_drop: 0.01}, so that a "
            "new model may not do worse than the blessed one.",
            8,
        ),
        f"        accuracy: {{min: {plan.minimum}}}",
        *comment(
            "Copies a blessed model to serving/ (a model that is not blessed is not pushed, and the run says why): an "
            f"MLflow model, and a SavedModel in TF Serving's layout (serving/<name>/<version>/) taking {taken}. "
            "Serve the newest with `headrace serve pipeline.yaml`.",
            2,
        ),
        *PUSHER,
    ]
    return "\n".join(lines) + "\n"


def _ingest_lines(plan: ImagePlan, source: str) -> list[str]:
    """The ingest step: what it makes of the folder or table, and its parameters."""
    table = plan.table
    if table is None:
        said = (
            "Reads the folder where it lies (<folder>/<class>/<image>.png; the path is relative to this file: edit it "
            "if you move either) into rows of image (the file's encoded bytes), label (the class folder's name) and "
            "path. The split is 80/20 by a hash of each file's path: adding images does not reshuffle the old ones."
        )
    elif table.names_files:
        kept = "path" if table.name == "image" else scalar(table.name)
        said = (
            "Reads the table where it lies (the path is relative to this file: edit it if you move either). Its "
            f"column {scalar(table.name)} names each row's image file, relative to the table's folder (or absolute): "
            f"ingest reads the file's bytes into the column image and keeps the path in the column {kept}; a missing or "
            "damaged file is a bad row. The split is 80/20 by a hash of each file's path: adding images does not "
            "reshuffle the old ones."
        )
    else:
        shape = "x".join(map(str, table.shape or ()))
        said = (
            "Reads the table where it lies (the path is relative to this file: edit it if you move either). Its "
            f"column {scalar(table.name)} holds each image's pixels ({table.value_type}, {shape}), taken as they "
            "are. The split is 80/20 by a hash of each row."
        )
    return [
        *comment(said, 2),
        "  ingest:",
        "    type: ingest",
        "    params:",
        f"      source: {scalar(source)}",
        *([f"      image_column: {scalar(table.name)}"] if table is not None and table.names_files else []),
        "      splits: {train: 8, eval: 2}",
        *_size_lines(plan),
    ]


def _other_columns_lines(plan: ImagePlan) -> list[str]:
    """For a table with columns besides the image and the label: why the model does not use them."""
    if plan.table is None or not plan.table.others:
        return []
    others = plan.table.others
    return comment(
        f"The model's only input is the image: the table's other column{'s' if len(others) > 1 else ''} "
        f"({names_text(others)}) {'stay' if len(others) > 1 else 'stays'} in the examples, but model.py feeds the CNN "
        "the image alone "
        "(features=[...]). To use them too, add inputs to its keras.Model for them (and transform ops, e.g. "
        f"scale_to_z_score: {{select: {{type: numeric, exclude: {scalar(plan.label)}}}}}).",
        2,
    )


def _sizes_text(plan: ImagePlan) -> str:
    """``8x8: 40, 12x12: 20`` (the three most common sizes, and how many others)."""
    shown = [f"{h}x{w}: {n}" for (h, w), n in list(plan.sizes.items())[:3]]
    more = len(plan.sizes) - len(shown)
    return ", ".join(shown) + (f" and {more} other size{'s' if more > 1 else ''}" if more else "")


def _size_lines(plan: ImagePlan) -> list[str]:
    """Ingest's comment on a folder of mixed sizes: what it does with them, and the parameters that change it."""
    if len(plan.sizes) < 2 or plan.size is None:
        return []
    height, width = plan.size
    return comment(
        f"The images have {len(plan.sizes)} sizes ({_sizes_text(plan)}): ingest resizes each to the most common, "
        f"{height}x{width} (the default on_size_mismatch: resize). To choose the size, add image_size: {{height: "
        f"{height}, width: {width}}}; to make an image of another size a bad row instead, on_size_mismatch: refuse.",
        6,
    )


def _resize_lines(plan: ImagePlan) -> list[str]:
    """The transform's resize op: written for a folder of mixed sizes, so the served model resizes as ingest did.

    The examples are all of one size whatever the folder (ingest resizes them), so training runs either way; a
    model without the op refuses an image of another size, which a folder of mixed sizes says requests will have.
    """
    if plan.size is None:
        return [
            "        # - resize: {select: {type: image}, height: 32, width: 32}  # the served model then takes any size"
        ]
    height, width = plan.size
    op = f"resize: {{select: {{type: image}}, height: {height}, width: {width}}}"
    if len(plan.sizes) < 2:
        return [
            *comment(
                f"All the images are {height}x{width}, so the model takes that size and refuses another; uncomment "
                "the resize to have it resize any image it is sent (or to train at another size).",
                8,
            ),
            f"        # - {op}",
        ]
    return [
        *comment(
            f"Ingest made every image {height}x{width}; this resize makes the served model do the same to an image "
            "of any size it is sent (without it, the model refuses another size). Edit both sizes together (this "
            "one and ingest's image_size) to train at another size.",
            8,
        ),
        f"        - {op}",
    ]
