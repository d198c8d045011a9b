"""A trained model as one MLflow model: the fitted TransformGraph in front of the user's estimator.

Serving takes raw rows. The features an estimator was trained on were made by
a frozen transform; if serving re-implemented that transform, the two would
drift apart (training/serving skew). So the trainer saves one MLflow pyfunc
model holding both, and every consumer (evaluator, infra validator, pusher,
``mlflow models serve``, ``mlflow.pyfunc.load_model``) predicts through the
same :class:`PackagedModel` code path on raw rows.

Layout of a ``Model`` artifact's directory (an ordinary MLflow model)::

    MLmodel                          python_function flavor; metadata.headrace (label, task, classes, features)
    python_model.pkl                 RawRowModel (pickled by reference: headrace must be importable when serving)
    artifacts/transform_graph/       a copy of the TransformGraph artifact
    artifacts/estimator/             the user's estimator in its own MLflow flavor (sklearn, xgboost, keras, ...)

Predictions: ``predict(rows)`` gives labels (class labels as the training
data spelled them, or numbers for regression); with
``params={"output": "probabilities"}`` a classifier gives one column per class.

The files are reproducible: the same estimator bytes, transform and metadata
give the same directory, byte for byte (MLmodel's ``model_uuid`` is derived
from the content and its ``utc_time_created`` is the epoch, the
reproducible-builds convention), so the artifact's content fingerprint says
"same model" exactly when the model is the same.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.metadata
import json
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
from mlflow.pyfunc import PythonModel

MLMODEL = "MLmodel"
GRAPH_ARTIFACT = "transform_graph"
ESTIMATOR_ARTIFACT = "estimator"
METADATA_KEY = "headrace"
FORMAT_VERSION = 1
EPOCH = "1970-01-01 00:00:00"
OUTPUTS = ("label", "probabilities")

# MLflow flavor for an estimator, by the top-level module of a class in its MRO (first match wins).
_FLAVOR_BY_MODULE = {
    "sklearn": "sklearn",
    "xgboost": "xgboost",
    "lightgbm": "lightgbm",
    "catboost": "catboost",
    "keras": "keras",
    "torch": "pytorch",
    "statsmodels": "statsmodels",
}
# What each flavor needs installed at serving time, beside the packages every model needs.
_FLAVOR_PACKAGES = {
    "sklearn": ["scikit-learn", "scipy"],
    "xgboost": ["xgboost"],
    "lightgbm": ["lightgbm"],
    "catboost": ["catboost"],
    "keras": ["keras", "tensorflow-cpu"],
    "pytorch": ["torch"],
    "statsmodels": ["statsmodels"],
}
_BASE_PACKAGES = ["headrace", "mlflow", "cloudpickle", "numpy", "pandas", "pyarrow", "pydantic", "pyyaml"]


class ModelPackageError(Exception):
    """A model that cannot be packaged or loaded, with what to do about it."""


def estimator_flavor(estimator: Any) -> str:
    """The MLflow flavor that saves ``estimator`` natively, judged by the modules of its class hierarchy."""
    for cls in type(estimator).__mro__:
        root = (cls.__module__ or "").split(".")[0]
        if root in _FLAVOR_BY_MODULE:
            return _FLAVOR_BY_MODULE[root]
    supported = ", ".join(sorted(set(_FLAVOR_BY_MODULE)))
    raise ModelPackageError(
        f"a {type(estimator).__module__}.{type(estimator).__qualname__} is not a model headrace can save: return an "
        f"estimator of a library MLflow has a flavor for (classes from: {supported}; a scikit-learn-compatible "
        "class that subclasses sklearn.base.BaseEstimator counts as scikit-learn)"
    )


def pip_requirements(flavor: str) -> list[str]:
    """Pinned requirements of a packaged model, read from this environment (MLflow's inference costs ~2.5 s)."""
    pins = []
    for package in [*_BASE_PACKAGES, *_FLAVOR_PACKAGES.get(flavor, [])]:
        try:
            pins.append(f"{package}=={importlib.metadata.version(package)}")
        except importlib.metadata.PackageNotFoundError:
            continue
    return pins


@dataclass(frozen=True)
class PackageInfo:
    """What a consumer needs to know about a packaged model, stored in MLmodel's ``metadata.headrace``."""

    label: str
    task: str  # "classification" or "regression"
    flavor: str
    features: list[str]  # transformed columns, in the order the estimator takes them
    raw_columns: list[str]  # the raw feature columns a request may carry (the label excluded)
    classes: list[Any] | None = None  # class labels, in the order of the probability columns
    version: int = FORMAT_VERSION
    required: list[str] | None = None
    """The raw columns a request must carry: those the transform reads and pass-through columns the estimator
    takes (None: all of ``raw_columns``). The others (an image's ``path``) may be left out."""

    @property
    def required_columns(self) -> list[str]:
        return list(self.raw_columns if self.required is None else self.required)

    def to_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "label": self.label,
            "task": self.task,
            "flavor": self.flavor,
            "features": self.features,
            "raw_columns": self.raw_columns,
            "required": self.required_columns,
            "classes": self.classes,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PackageInfo:
        if data.get("version") != FORMAT_VERSION:
            raise ModelPackageError(
                f"this model was packaged in headrace model format {data.get('version')}; this headrace reads "
                f"format {FORMAT_VERSION} (re-run the trainer with this headrace)"
            )
        return cls(
            label=data["label"],
            task=data["task"],
            flavor=data["flavor"],
            features=list(data["features"]),
            raw_columns=list(data["raw_columns"]),
            classes=data.get("classes"),
            required=list(data["required"]) if "required" in data else None,
        )


# -- predicting ---------------------------------------------------------------------------------------------------


class PackagedModel:
    """Raw rows in, predictions out: the frozen transform, then the estimator, in one place for every consumer."""

    def __init__(self, info: PackageInfo, transform: Any, estimator: Any) -> None:
        self.info = info
        self.transform = transform
        self.estimator = estimator

    @property
    def classes(self) -> list[Any] | None:
        return self.info.classes

    def features(self, rows: Any) -> Any:
        """The estimator's input for raw ``rows`` (pandas DataFrame, RecordBatch or Table): transformed, ordered."""
        import pandas as pd

        if isinstance(rows, pd.DataFrame):
            required = self.info.required_columns
            missing = [c for c in required if c not in rows.columns]
            if missing:
                optional = [c for c in self.info.raw_columns if c not in required]
                raise ModelPackageError(
                    f"the request lacks column(s) {', '.join(repr(m) for m in missing)}; this model needs "
                    f"{', '.join(required)}"
                    + (f" (and takes {', '.join(optional)} if given)" if optional else "")
                    + " (send null for an unknown value, never leave a needed column out)"
                )
            present = [c for c in self.info.raw_columns if c in rows.columns]
            table = _rows_table(rows[present], self.transform.input_schema)
        elif isinstance(rows, pa.RecordBatch):
            table = pa.Table.from_batches([rows])
        else:
            table = rows
        transformed = self.transform.transform(table)
        return estimator_input(self.estimator, self.info.flavor, transformed, self.info.features, self.transform)

    def predict(self, rows: Any) -> Any:
        """Labels (or numbers, for regression), one per row, as a NumPy array."""
        return estimator_predict(self.estimator, self.info, self.features(rows))

    def predict_proba(self, rows: Any) -> Any:
        """Class probabilities, one row per input row and one column per class of :attr:`classes`."""
        return self._probabilities(self.features(rows))

    def predict_with_probabilities(self, rows: Any) -> tuple[Any, Any | None]:
        """:meth:`predict` and :meth:`predict_proba` (None when the model gives none) from one transform pass."""
        features = self.features(rows)
        if self.info.flavor == "keras" and self.info.task == "classification":
            from headrace.components import keras_predict

            scores = self._probabilities(features)  # a Keras model is run once: its labels are read from them
            return keras_predict.labels_of(scores, self.info.task, self.info.classes), scores
        labels = estimator_predict(self.estimator, self.info, features)
        try:
            return labels, self._probabilities(features)
        except ModelPackageError:
            return labels, None

    def _probabilities(self, features: Any) -> Any:
        import numpy as np

        if self.info.flavor == "keras" and self.info.task == "classification":
            from headrace.components import keras_predict

            return keras_predict.scores(self.estimator, features, self.info.task)
        if self.info.task != "classification" or not hasattr(self.estimator, "predict_proba"):
            raise ModelPackageError(
                f"this {self.info.task} model ({type(self.estimator).__name__}) gives no class probabilities"
            )
        return np.asarray(self.estimator.predict_proba(features))


def estimator_predict(estimator: Any, info: PackageInfo, model_input: Any) -> Any:
    """Labels (or numbers) for what :func:`estimator_input` gave: ``predict``, or a Keras model's scores read."""
    import numpy as np

    if info.flavor == "keras":
        from headrace.components import keras_predict

        return keras_predict.labels(estimator, model_input, info.task, info.classes)
    return np.asarray(estimator.predict(model_input))


def estimator_input(estimator: Any, flavor: str, transformed: Any, features: list[str], transform: Any = None) -> Any:
    """What ``estimator.predict`` takes for transformed rows (an Arrow Table or RecordBatch): ``features``, in order.

    A DataFrame, or for a scikit-learn estimator fitted on an array, the array; for a Keras model a dict of
    one array per feature, as ``tf_dataset`` fed it in training (``transform``, the fitted transform, gives
    its image columns' steps).
    """
    if flavor == "keras":
        from headrace.components import keras_predict

        return keras_predict.inputs(transformed, features, transform)
    frame = transformed.select(features).to_pandas()
    if getattr(estimator, "feature_names_in_", None) is None and flavor == "sklearn":
        return frame.to_numpy()  # fitted on an array: a DataFrame would only draw a feature-name warning
    return frame


def load_model(uri: str) -> PackagedModel:
    """The packaged model in the directory ``uri`` (a local path; a Model artifact's URI)."""
    from headrace.components.transform.graph import FittedTransform

    base = uri.rstrip("/")
    info = read_info(base)
    transform = FittedTransform.load(os.path.join(base, "artifacts", GRAPH_ARTIFACT))
    estimator = _load_estimator(os.path.join(base, "artifacts", ESTIMATOR_ARTIFACT), info.flavor)
    return PackagedModel(info, transform, estimator)


def read_info(uri: str) -> PackageInfo:
    """The headrace metadata of the packaged model at ``uri``, without loading the estimator."""
    import yaml

    path = os.path.join(uri.rstrip("/"), MLMODEL)
    try:
        with open(path, encoding="utf-8") as f:
            document = yaml.safe_load(f)
    except FileNotFoundError:
        raise ModelPackageError(f"{uri} is not an MLflow model: it has no {MLMODEL} file") from None
    metadata = (document or {}).get("metadata") or {}
    if METADATA_KEY not in metadata:
        raise ModelPackageError(f"{path} is an MLflow model but not one headrace packaged (no metadata.headrace)")
    return PackageInfo.from_json(metadata[METADATA_KEY])


def _load_estimator(path: str, flavor: str) -> Any:
    try:
        module = importlib.import_module(f"mlflow.{flavor}")
    except ImportError as exc:
        raise ModelPackageError(
            f"loading this model needs MLflow's {flavor} flavor, which cannot be imported here: {exc} "
            f"(install: {' '.join(_FLAVOR_PACKAGES.get(flavor, []))})"
        ) from None
    return module.load_model(path)


# -- the MLflow pyfunc face ------------------------------------------------------------------------------------------


class RawRowModel(PythonModel):
    """MLflow's view of a packaged model: what ``mlflow models serve`` and ``mlflow.pyfunc.load_model`` call."""

    def load_context(self, context: Any) -> None:
        base = os.path.dirname(os.path.dirname(context.artifacts[GRAPH_ARTIFACT].rstrip("/")))
        self._model = load_model(base)

    @property
    def packaged(self) -> PackagedModel:
        """The model loaded by ``load_context``: for a server that answers other formats than MLflow's."""
        return self._model

    def predict(self, context, model_input, params=None):  # no hints: MLflow would read them as the model schema
        import pandas as pd

        output = (params or {}).get("output", "label")
        if output not in OUTPUTS:
            raise ModelPackageError(f"params.output is {output!r}; it takes one of: {', '.join(OUTPUTS)}")
        if not isinstance(model_input, pd.DataFrame):
            model_input = pd.DataFrame(model_input)
        if output == "probabilities":
            classes = [str(c) for c in (self._model.classes or [])]
            return pd.DataFrame(self._model.predict_proba(model_input), columns=classes)
        return self._model.predict(model_input)


# -- saving ---------------------------------------------------------------------------------------------------------


def save_model(
    path: str,
    estimator: Any,
    transform_graph_uri: str,
    *,
    label: str,
    task: str,
    features: list[str],
    input_example: Any,
    classes: Iterable[Any] | None = None,
) -> PackageInfo:
    """Write ``estimator`` behind the TransformGraph at ``transform_graph_uri`` as an MLflow model at ``path``.

    ``path`` is a local directory that does not exist or is empty. ``input_example``
    is a pandas DataFrame of raw rows (the label may be present; it is dropped): it
    becomes the model's input example, and its columns, with the transform's input
    schema, the request signature.
    """
    from mlflow.models import Model
    from mlflow.pyfunc import save_model as save_pyfunc

    from headrace.components.transform.graph import FittedTransform

    flavor = estimator_flavor(estimator)
    fitted = FittedTransform.load(transform_graph_uri)
    raw = [f for f in fitted.input_schema if f.name != label]
    info = PackageInfo(
        label=label,
        task=task,
        flavor=flavor,
        features=list(features),
        raw_columns=[f.name for f in raw],
        classes=[_plain(c) for c in classes] if classes is not None else None,
        required=required_columns(fitted, raw, features),
    )
    example = input_example[[f.name for f in raw]].head(5).reset_index(drop=True)
    for f in raw:  # as the signature declares them: Decimal is not JSON, a category no string, datetimes naive
        if pa.types.is_decimal(f.type):
            example[f.name] = example[f.name].astype(float)
        elif pa.types.is_dictionary(f.type):
            example[f.name] = example[f.name].astype(object)
        elif pa.types.is_timestamp(f.type) and f.type.tz is not None:  # MLflow's datetime is naive: UTC
            example[f.name] = example[f.name].dt.tz_convert("UTC").dt.tz_localize(None)
    requirements = pip_requirements(flavor)
    with tempfile.TemporaryDirectory(prefix="headrace-model-") as scratch:
        estimator_dir = os.path.join(scratch, ESTIMATOR_ARTIFACT)
        _save_estimator(estimator, estimator_dir, flavor, requirements)
        graph_dir = os.path.join(scratch, GRAPH_ARTIFACT)
        _copy_graph(transform_graph_uri, graph_dir)
        content = _directory_digest(scratch) + json.dumps(info.to_json(), sort_keys=True, default=str)
        save_pyfunc(
            path,
            python_model=RawRowModel(),
            artifacts={GRAPH_ARTIFACT: graph_dir, ESTIMATOR_ARTIFACT: estimator_dir},
            signature=_signature(raw, info.required_columns),
            input_example=example,
            pip_requirements=requirements,
            metadata={METADATA_KEY: info.to_json()},
            mlflow_model=Model(utc_time_created=EPOCH, model_uuid=_content_uuid(content)),
        )
    _forget_scratch_paths(path)
    return info


def required_columns(fitted: Any, raw: list[pa.Field], features: list[str]) -> list[str]:
    """The raw columns a request must carry: what the transform reads, and raw columns the estimator takes as they are.

    An image folder's ``path`` is neither: the model never sees it, so a request need not send it.
    """
    needed = set(fitted.required) | set(features)
    return [f.name for f in raw if f.name in needed]


def _forget_scratch_paths(path: str) -> None:
    """Point MLmodel's artifact ``uri`` entries at the copies inside the model, not the scratch folder they came from.

    MLflow records each artifact's source for information only (loading uses
    ``path``); a scratch path would make every save differ and leak a temp name.
    """
    from mlflow.models import Model

    mlmodel = os.path.join(path, MLMODEL)
    model = Model.load(mlmodel)
    for entry in model.flavors["python_function"].get("artifacts", {}).values():
        entry["uri"] = entry["path"]
    model.save(mlmodel)


def _save_estimator(estimator: Any, path: str, flavor: str, requirements: list[str]) -> None:
    from mlflow.models import Model

    module = importlib.import_module(f"mlflow.{flavor}")
    fixed = Model(utc_time_created=EPOCH, model_uuid=uuid.UUID(int=0).hex)  # the outer model_uuid carries identity
    if flavor == "sklearn":
        # cloudpickle, so an estimator class defined in the user's module travels with the model
        module.save_model(
            estimator, path, serialization_format="cloudpickle", pip_requirements=requirements, mlflow_model=fixed
        )
    else:
        module.save_model(estimator, path, pip_requirements=requirements, mlflow_model=fixed)
    if flavor == "keras":
        from headrace.components.keras_archive import make_reproducible

        for folder, _, files in os.walk(path):
            for name in files:
                if name.endswith(".keras"):
                    make_reproducible(os.path.join(folder, name))


def _copy_graph(uri: str, target: str) -> None:
    from headrace.components.files import filesystem

    if "://" not in uri:
        shutil.copytree(uri, target)
        return
    import pyarrow.fs as pafs

    fs, root = filesystem(uri)
    os.makedirs(target)
    pafs.copy_files(root, target, source_filesystem=fs, destination_filesystem=pafs.LocalFileSystem())


def _directory_digest(root: str) -> str:
    h = hashlib.blake2b(digest_size=16)
    for folder, dirs, files in sorted(os.walk(root)):
        dirs.sort()
        for name in sorted(files):
            full = os.path.join(folder, name)
            h.update(os.path.relpath(full, root).encode() + b"\0")
            with open(full, "rb") as f:
                h.update(hashlib.blake2b(f.read(), digest_size=16).digest())
    return h.hexdigest()


def _content_uuid(content: str) -> str:
    return uuid.uuid5(uuid.NAMESPACE_URL, "headrace-model:" + content).hex


def _rows_table(rows: Any, schema: pa.Schema) -> pa.Table:
    """A request's DataFrame as Arrow; a tensor image column's rows (arrays or nested lists) become its tensors."""
    from headrace.components.images import tensor_array

    tensors = [f for f in schema if isinstance(f.type, pa.FixedShapeTensorType) and f.name in rows.columns]
    if not tensors:
        return pa.Table.from_pandas(rows, preserve_index=False)
    plain = pa.Table.from_pandas(rows.drop(columns=[f.name for f in tensors]), preserve_index=False)
    columns = {name: plain.column(name) for name in plain.column_names}
    columns.update({f.name: tensor_array(f.name, rows[f.name], f.type) for f in tensors})
    return pa.table({name: columns[name] for name in rows.columns})


def _plain(value: Any) -> Any:
    """A NumPy scalar as the Python value it holds (class labels go to JSON and YAML)."""
    return value.item() if hasattr(value, "item") else value


def _signature(raw: list[pa.Field], required: list[str]) -> Any:
    """Raw columns as MLflow column specs, plus the ``output`` parameter; a column not in ``required`` is optional.

    Integers are declared ``any``: a JSON request with a null in an integer
    column arrives in pandas as a float column, which a ``long`` spec rejects,
    and whole numbers arrive as int64, which a ``double`` spec rejects; the
    transform casts the column to the type it was fitted on, or says why not.
    """
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, ParamSchema, ParamSpec
    from mlflow.types import Schema as ColumnSchema
    from mlflow.types.schema import AnyType

    def kind(t: pa.DataType) -> Any:
        if pa.types.is_boolean(t):
            return "boolean"
        if pa.types.is_integer(t):
            return AnyType()
        if pa.types.is_floating(t) or pa.types.is_decimal(t):
            return "double"
        if pa.types.is_timestamp(t) or pa.types.is_date(t):
            return "datetime"
        if pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t):
            return "binary"
        if isinstance(t, pa.FixedShapeTensorType):
            return AnyType()  # pixels as nested lists or arrays, shaped by the model (images.tensor_array)
        return "string"

    inputs = ColumnSchema([ColSpec(kind(f.type), f.name, required=f.name in required) for f in raw])
    params = ParamSchema([ParamSpec("output", "string", "label")])
    return ModelSignature(inputs=inputs, params=params)
