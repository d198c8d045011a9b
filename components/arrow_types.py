"""Arrow types from the names users write (``int64``, ``timestamp[ms, tz=UTC]``, ``decimal128(10, 2)``).

Ingest's ``column_types`` and the Examples artifact's ``schema`` property are
written with these names, and every reader of an Examples artifact parses
them back, so the parser lives below all of them.
"""

from __future__ import annotations

import re
from typing import Any

_EXTRA_TYPES = re.compile(r"^(decimal128\(\d+,\s*\d+\)|timestamp\[(s|ms|us|ns)(,\s*tz=[^\]]+)?\])$")
_NESTED = re.compile(r"^(dictionary|list|large_list|struct|map)<(.*)>$", re.S)
_TENSOR = re.compile(
    r"^extension<arrow\.fixed_shape_tensor\[value_type=(\w+), shape=\[([\d,\s]*)\]"
    r"(?:, permutation=\[([\d,\s]*)\])?(?:, dim_names=\[([^\]]*)\])?\]>$"
)


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
    tensor = _TENSOR.match(text)
    if tensor:
        return _tensor_type(*tensor.groups())
    nested = _NESTED.match(text)
    if nested:
        return _nested_type(nested.group(1), _top_level_parts(nested.group(2)), name)
    raise ValueError(
        f"{name!r} is not an Arrow type name; use one of {', '.join(accepted_type_names())}, "
        "'timestamp[<unit>, tz=<zone>]' or 'decimal128(<precision>, <scale>)'"
    )


def _nested_type(kind: str, parts: list[str], name: str) -> Any:
    """A dictionary, list, struct or map type from the parts of its name as ``str(type)`` writes it.

    Parquet files keep pandas categoricals as dictionaries and JSON Lines give lists and structs, and those
    types are recorded by name (Examples' schema, the TransformGraph's input schema), so they must read back.
    """
    import pyarrow as pa

    try:
        if kind == "dictionary":  # dictionary<values=string, indices=int8, ordered=0>
            options = dict(part.split("=", 1) for part in parts)
            return pa.dictionary(
                parse_arrow_type(options["indices"]), parse_arrow_type(options["values"]), options.get("ordered") == "1"
            )
        if kind == "map":  # map<string, int64>
            key, item = parts
            return pa.map_(parse_arrow_type(key), parse_arrow_type(item))
        fields = [_field(part) for part in parts]  # list<item: int64>, struct<x: int64, y: string not null>
        if kind == "struct":
            return pa.struct(fields)
        (item,) = fields
        return pa.list_(item) if kind == "list" else pa.large_list(item)
    except (KeyError, ValueError) as exc:
        raise ValueError(f"{name!r} is not an Arrow type name: {exc}") from None


def _tensor_type(value: str, shape: str, permutation: str | None, dim_names: str | None) -> Any:
    """A fixed-shape tensor type (a Parquet image tensor column) from the parts of its name as ``str(type)``
    writes it: ``extension<arrow.fixed_shape_tensor[value_type=uint8, shape=[8,8,1], permutation=[0,1,2]]>``."""
    import pyarrow as pa

    def numbers(text: str | None) -> list[int] | None:
        return [int(n) for n in text.split(",") if n.strip()] if text else None

    names = [n.strip() for n in dim_names.split(",")] if dim_names else None
    value_type = pa.float32() if value == "float" else pa.float64() if value == "double" else parse_arrow_type(value)
    return pa.fixed_shape_tensor(value_type, numbers(shape) or [], dim_names=names, permutation=numbers(permutation))


def _field(text: str) -> Any:
    import pyarrow as pa

    field_name, _, type_name = text.partition(": ")
    nullable = not type_name.endswith(" not null")
    return pa.field(field_name, parse_arrow_type(type_name.removesuffix(" not null")), nullable)


def _top_level_parts(text: str) -> list[str]:
    """``text`` split at the commas outside brackets: ``x: int64, y: timestamp[s, tz=UTC]`` -> two parts."""
    if not text.strip():
        return []
    parts, depth, start = [], 0, 0
    for i, char in enumerate(text):
        if char in "<[(":
            depth += 1
        elif char in ">])":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append(text[start:i].strip())
            start = i + 1
    parts.append(text[start:].strip())
    return parts
