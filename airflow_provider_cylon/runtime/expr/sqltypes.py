"""SQL type names and the Arrow types they stand for (as DuckDB maps them).

Used for ``CAST(x AS <type>)`` targets and for the ``type`` of literals in the
JSON tree. Names are case-insensitive; the canonical spelling (lower case, no
spaces inside ``decimal(p,s)``) is what the tree carries.
"""
from __future__ import annotations

import re

import pyarrow as pa

from airflow_provider_cylon.runtime.expr.errors import ExpressionError

#: DuckDB's plain ``DECIMAL`` (no arguments) is DECIMAL(18,3).
DEFAULT_DECIMAL = (18, 3)
#: Largest precision of a decimal128; wider decimals become decimal256 (up to 76).
MAX_DECIMAL128 = 38
MAX_DECIMAL256 = 76

_SIMPLE: dict[str, pa.DataType] = {
    "boolean": pa.bool_(), "bool": pa.bool_(), "logical": pa.bool_(),
    "tinyint": pa.int8(), "int1": pa.int8(),
    "smallint": pa.int16(), "int2": pa.int16(), "short": pa.int16(),
    "integer": pa.int32(), "int": pa.int32(), "int4": pa.int32(), "signed": pa.int32(),
    "bigint": pa.int64(), "int8": pa.int64(), "long": pa.int64(),
    "utinyint": pa.uint8(), "usmallint": pa.uint16(), "uinteger": pa.uint32(), "ubigint": pa.uint64(),
    "real": pa.float32(), "float": pa.float32(), "float4": pa.float32(),
    "double": pa.float64(), "float8": pa.float64(), "double precision": pa.float64(),
    "varchar": pa.string(), "text": pa.string(), "string": pa.string(), "char": pa.string(),
    "bpchar": pa.string(), "character varying": pa.string(),
    "blob": pa.binary(), "bytea": pa.binary(), "binary": pa.binary(), "varbinary": pa.binary(),
    "date": pa.date32(),
    "timestamp": pa.timestamp("us"), "datetime": pa.timestamp("us"),
    "timestamp without time zone": pa.timestamp("us"),
    "timestamptz": pa.timestamp("us", tz="UTC"), "timestamp with time zone": pa.timestamp("us", tz="UTC"),
    "null": pa.null(),
}
_DECIMAL = re.compile(r"^(?:decimal|numeric|dec)\s*(?:\(\s*(\d+)\s*(?:,\s*(\d+)\s*)?\))?$")
_VARCHAR_N = re.compile(r"^(varchar|char|character varying|string|text)\s*\(\s*\d+\s*\)$")
INTERVAL_UNITS = ("day", "month", "year")


def decimal_type(precision: int, scale: int) -> pa.DataType:
    """The Arrow decimal type of that precision: decimal128 up to 38 digits, then decimal256."""
    if precision <= MAX_DECIMAL128:
        return pa.decimal128(precision, scale)
    return pa.decimal256(precision, scale)


def arrow_type(name: str) -> pa.DataType:
    """Map an SQL type name (``integer``, ``decimal(15,2)``, ``varchar``, ``date`` ...) to an Arrow type.

    :param name: the SQL type name, case-insensitive.
    :raises ExpressionError: for a name that is not a supported type.
    """
    text = " ".join(name.strip().lower().split())
    if text in _SIMPLE:
        return _SIMPLE[text]
    if _VARCHAR_N.match(text):
        return pa.string()
    m = _DECIMAL.match(text)
    if m:
        precision = int(m.group(1)) if m.group(1) else DEFAULT_DECIMAL[0]
        scale = int(m.group(2)) if m.group(2) else (0 if m.group(1) else DEFAULT_DECIMAL[1])
        if not 1 <= precision <= MAX_DECIMAL256 or scale > precision:
            raise ExpressionError(
                f"decimal({precision},{scale}) is not a valid type: "
                f"expected 1 <= precision <= {MAX_DECIMAL256} and 0 <= scale <= precision"
            )
        return decimal_type(precision, scale)
    if text.startswith("interval "):
        unit = text.split(" ", 1)[1]
        if unit in INTERVAL_UNITS:
            # An interval has no Arrow column type here; it only occurs as a literal in date arithmetic.
            return pa.month_day_nano_interval()
    known = ", ".join(sorted({"integer", "bigint", "smallint", "tinyint", "double", "real", "decimal(p,s)",
                              "varchar", "boolean", "date", "timestamp", "timestamptz", "blob"}))
    raise ExpressionError(f"unsupported type {name!r}; supported types: {known}")


def sql_type_name(t: pa.DataType) -> str:
    """The canonical SQL name of an Arrow type (the inverse of :func:`arrow_type` where one exists)."""
    if pa.types.is_decimal(t):
        return f"decimal({t.precision},{t.scale})"
    if pa.types.is_timestamp(t):
        return "timestamptz" if t.tz else "timestamp"
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return "varchar"
    if pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_binary_view(t):
        return "blob"
    if pa.types.is_date(t):
        return "date"
    for name in ("boolean", "tinyint", "smallint", "integer", "bigint", "utinyint", "usmallint",
                 "uinteger", "ubigint", "real", "double", "null"):
        if _SIMPLE[name] == t:
            return name
    return str(t)
