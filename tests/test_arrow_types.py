"""Arrow type names read back: Examples' schema and the TransformGraph record column types by ``str(type)``."""

from __future__ import annotations

import pyarrow as pa
import pytest

from headrace.components.arrow_types import parse_arrow_type

NAMED = [
    pa.int64(),
    pa.date32(),
    pa.decimal128(7, 2),
    pa.timestamp("ms", tz="Europe/Paris"),
    pa.dictionary(pa.int8(), pa.string()),  # a pandas categorical in a Parquet file
    pa.dictionary(pa.int32(), pa.string(), ordered=True),
    pa.list_(pa.int64()),  # JSON Lines arrays and objects
    pa.list_(pa.field("item", pa.float64(), nullable=False)),
    pa.large_list(pa.string()),
    pa.struct([("x", pa.int64()), ("at", pa.timestamp("s", tz="UTC"))]),
    pa.list_(pa.struct([("a", pa.list_(pa.float64()))])),
    pa.map_(pa.string(), pa.int64()),
]


@pytest.mark.parametrize("arrow_type", NAMED, ids=str)
def test_every_type_reads_back_from_its_name(arrow_type) -> None:
    assert parse_arrow_type(str(arrow_type)) == arrow_type


@pytest.mark.parametrize("name", ["list<item: nope>", "dictionary<values=string>", "struct<x int64>"])
def test_a_broken_nested_name_is_an_error_quoting_it(name: str) -> None:
    with pytest.raises(ValueError, match="is not an Arrow type name"):
        parse_arrow_type(name)
