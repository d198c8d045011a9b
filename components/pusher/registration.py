"""The MLflow Model Registry side of a push: a model version for the pushed copy, and an alias on it.

The registered version's source is the pushed directory (``<push_dir>/<version>``),
not the pipeline's artifact: the registry then names exactly what is
served. Its description and tags lead back to the pipeline run (headrace run
id, pipeline, model artifact id), so ``models:/penguin@champion`` can be
traced to the data and code that made it with ``headrace lineage``.

Registering the same pushed copy twice (a re-run) finds the version made
the first time instead of adding one; the alias moves to it either way.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

RETRY_DELAYS_S = (0.5, 1.0, 2.0)
"""A fresh SQLite tracking store may be created by the run's MLflow mirror at the same moment: retry, then fail."""


@dataclass(frozen=True)
class Registration:
    name: str
    version: int
    alias: str
    new: bool  # False when this source was registered before


def register(
    tracking_uri: str, name: str, alias: str, source: str, description: str, tags: dict[str, str]
) -> Registration:
    """Register ``source`` as a version of model ``name`` at ``tracking_uri`` and point ``alias`` at it."""
    for delay in (*RETRY_DELAYS_S, None):
        try:
            return _register(tracking_uri, name, alias, source, description, tags)
        except Exception:
            if delay is None:
                raise
            time.sleep(delay)
    raise AssertionError("unreachable")


def _register(
    tracking_uri: str, name: str, alias: str, source: str, description: str, tags: dict[str, str]
) -> Registration:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    _ensure_registered_model(client, name)
    quoted = name.replace("'", "\\'")
    earlier = [v for v in client.search_model_versions(f"name = '{quoted}'") if v.source == source]
    if earlier:
        version = max(earlier, key=lambda v: int(v.version))
        new = False
    else:
        version = client.create_model_version(name, source, description=description, tags=tags)
        new = True
    client.set_registered_model_alias(name, alias, version.version)
    return Registration(name, int(version.version), alias, new)


def _ensure_registered_model(client: Any, name: str) -> None:
    from mlflow.exceptions import MlflowException

    try:
        client.get_registered_model(name)
        return
    except MlflowException as exc:
        if exc.error_code != "RESOURCE_DOES_NOT_EXIST":
            raise
    try:
        client.create_registered_model(name, description="Blessed models pushed by the headrace pipeline's pusher.")
    except MlflowException as exc:
        if exc.error_code != "RESOURCE_ALREADY_EXISTS":  # another pusher made it meanwhile
            raise
