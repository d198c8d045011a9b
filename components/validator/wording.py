"""Numbers, shares and units as the validator's sentences write them.

An anomaly is read by a person deciding whether to accept a change, so its
numbers look like the data's own: ``4,207 g``, ``36.4%``, ``+0.52 standard
deviations``, never ``4206.99871``.
"""

from __future__ import annotations

import math
import re

from headrace.components.validator.distances import OTHER_VALUES

_UNITS = {
    "mm": "mm",
    "cm": "cm",
    "m": "m",
    "km": "km",
    "mg": "mg",
    "g": "g",
    "kg": "kg",
    "lb": "lb",
    "ms": "ms",
    "s": "s",
    "sec": "s",
    "secs": "s",
    "seconds": "s",
    "min": "min",
    "h": "h",
    "hours": "h",
    "days": "days",
    "pct": "%",
    "percent": "%",
    "bytes": "bytes",
    "kb": "kB",
    "mb": "MB",
    "gb": "GB",
    "usd": "USD",
    "eur": "EUR",
    "gbp": "GBP",
}


def unit_of(column: str) -> str:
    """The unit a column's name ends with (``body_mass_g`` -> ``g``), or "" when it names none."""
    found = re.search(r"_([A-Za-z]+)$", column)
    return _UNITS.get(found.group(1).lower(), "") if found else ""


def amount(value: float, unit: str = "") -> str:
    """About four significant digits with thousands separators and the unit: ``4,207 g``, ``43.92 mm``."""
    if not math.isfinite(value):
        text = str(value)
    elif value == 0:
        text = "0"
    elif abs(value) >= 1e9 or abs(value) < 1e-4:
        text = f"{value:.4g}"
    else:
        digits = max(0, 3 - math.floor(math.log10(abs(value))))
        text = f"{value:,.{digits}f}"
        if "." in text:
            text = text.rstrip("0").rstrip(".")
    if not unit:
        return text
    return f"{text}{unit}" if unit == "%" else f"{text} {unit}"


def pct(share: float) -> str:
    return f"{share * 100:.1f}%".replace(".0%", "%")


def dist(value: float, against: float | None = None) -> str:
    """A distance to two decimals, or more when it would read the same as the threshold it is ``against``."""
    text = f"{value:.2f}" if value >= 0.01 or value == 0 else f"{value:.2g}"
    if against is not None and value != against:
        digits = 3
        while float(text) == float(dist(against)) and digits < 8:
            text = f"{value:.{digits}f}"
            digits += 1
    return text


def num(value: float | None, significant: int = 6) -> str:
    """A number as a person writes it: 4202, 1200.5, 0.1234; exponent notation only when it must."""
    if value is None:
        return "unbounded"
    if float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))
    if abs(value) >= 1e9 or abs(value) < 1e-4:
        return f"{value:.{significant}g}"
    digits = max(0, significant - 1 - math.floor(math.log10(abs(value))))
    text = f"{round(value, digits):.{digits}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def value_name(value: str) -> str:
    return "values outside the top values" if value == OTHER_VALUES else repr(value)


def listing(values: list[str], limit: int = 12) -> str:
    shown = ", ".join(values[:limit])
    return shown + (f", ... ({len(values)} values)" if len(values) > limit else "")
