"""How a number a person reads is printed: metrics in ``show``, the run summary, reports.

Python's ``{:g}`` turns three million rows into ``3e+06``. Here integers stay
integers with thousands separators (``3,000,000``), and other floats get a
precision that shows what matters (``0.9531``, ``12.35``, ``1,234.57``)
without scientific notation except for the very small.
"""

from __future__ import annotations

import math
import numbers

LARGEST_EXACT_FLOAT = 2**53
"""Above this a float no longer holds every integer, so it is not shown as one."""


def format_metric(value: object) -> str:
    """``value`` as a person reads it; anything that is not a number is shown as ``str(value)``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return str(value)
    if isinstance(value, numbers.Integral):
        return f"{int(value):,}"
    number = float(value)
    if math.isnan(number) or math.isinf(number):
        return str(number)
    if number.is_integer() and abs(number) < LARGEST_EXACT_FLOAT:
        return f"{int(number):,}"  # stored as a float (JSON, MetricsSink) but counts something
    size = abs(number)
    if size >= LARGEST_EXACT_FLOAT:
        return f"{number:.4e}"
    if size >= 1000:
        return f"{number:,.2f}"
    if size >= 1e-4:
        return f"{number:.4g}"
    return f"{number:.3e}"
