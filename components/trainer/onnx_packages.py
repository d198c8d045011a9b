"""Whether the optional ONNX export can run here, found without importing anything."""

from __future__ import annotations

from headrace.components.installed import importable

ONNX_PACKAGES = ("skl2onnx", "onnxruntime")
INSTALL = "pip install 'headrace[onnx]'"


def missing_onnx_packages() -> list[str]:
    """The packages of the ``onnx`` extra that cannot be imported."""
    return [name for name in ONNX_PACKAGES if not importable(name)]
