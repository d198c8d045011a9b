"""Whether an optional package is installed, found without importing it (importing TensorFlow costs seconds)."""

from __future__ import annotations

import importlib.util


def importable(module: str) -> bool:
    """Whether ``module`` can be imported here; not when it is hidden (``sys.modules[name] = None``) or broken."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a module set to None in sys.modules, a broken install
        return False
