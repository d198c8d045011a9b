"""Whether the optional ONNX export can run here, found without importing anything."""

from __future__ import annotations

import importlib.util

ONNX_PACKAGES = ("skl2onnx", "onnxruntime")
INSTALL = "pip install 'headrace[onnx]'"


def missing_onnx_packages() -> list[str]:
    """The packages of the ``onnx`` extra that cannot be imported."""
    missing = []
    for name in ONNX_PACKAGES:
        try:
            found = importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):  # a module set to None in sys.modules, a broken install
            found = False
        if not found:
            missing.append(name)
    return missing
