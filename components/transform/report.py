"""Placeholder, replaced below."""

from __future__ import annotations

from typing import Any


def render_transform_html(fitted: Any, label: str) -> str:
    return "<html><body>transform</body></html>"
