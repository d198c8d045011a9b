"""Arrow types from the names users write (``int64``, ``timestamp[ms, tz=UTC]``, ``decimal128(10, 2)``).

Ingest's ``column_types`` and the Examples artifact's ``schema`` property are
written with these names, and every reader of an Examples artifact parses
them back, so the parser lives below all of them.
"""

from __future__ import annotations

import re
from typing import Any

_EXTRA_TYPES = re.compile(r"^(decimal128\(\d+,\s*\d+\)|timestamp\[(s|ms|us|ns)(,\s*tz=[^\]]+)?\])$")


def accepted_type_names() -> list[str]:
    """The type names ``pyarrow.type_for_alias`` knows, for error messages."""
    import pyarrow as pa

    aliases = getattr(pa.lib, "_type_aliases", {})
    return sorted(aliases) or ["bool", "int64", "double", "string", "date32", "timestamp[s]"]


def parse_arrow_type(name: str) -> Any:
    """An Arrow type from its name (``int64``, ``timestamp[ms, tz=UTC]``, ``decimal128(10, 2)``)."""
    import pyarrow as pa

    text = name.strip()
    try:
        return pa.type_for_alias(text)
    except ValueError:
        pass
    if _EXTRA_TYPES.match(text):
        if text.startswith("decimal128"):
            precision, scale = (int(x) for x in text[text.index("(") + 1 : -1].split(","))
            return pa.decimal128(precision, scale)
        unit, _, tz = text[len("timestamp[") : -1].partition(",")
        return pa.timestamp(unit.strip(), tz=tz.split("=", 1)[1].strip() if tz else None)
    raise ValueError(
        f"{name!r} is not an Arrow type name; use one of {', '.join(accepted_type_names())}, "
        "'timestamp[<unit>, tz=<zone>]' or 'decimal128(<precision>, <scale>)'"
    )
