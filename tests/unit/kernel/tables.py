"""Hypothesis strategies for Arrow tables of every key type, and multiset comparison helpers."""
from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal
from typing import Any

import pyarrow as pa
from hypothesis import strategies as st

# Small value domains force duplicates; extremes and special floats find edge cases.
VALUES: dict[str, list[Any]] = {
    "int8": [-128, -1, 0, 1, 2, 127],
    "int16": [-32768, -1, 0, 1, 300, 32767],
    "int32": [-(2**31), -7, 0, 1, 5, 2**31 - 1],
    "int64": [-(2**63), -5, 0, 1, 3, 2**40, 2**63 - 1],
    "uint8": [0, 1, 2, 255],
    "uint16": [0, 1, 7, 65535],
    "uint32": [0, 1, 9, 2**32 - 1],
    "uint64": [0, 1, 11, 2**63, 2**64 - 1],
    "float32": [0.0, -0.0, 1.5, -2.25, float("nan"), float("inf"), float("-inf")],
    "float64": [0.0, -0.0, 1.5, -2.25, 1e300, float("nan"), float("inf"), float("-inf")],
    "bool": [True, False],
    "string": ["", "a", "b", "ab", "é", "日本語", "a" * 40, "Zebra"],
    "large_string": ["", "x", "y", "xy", "ñandú", "🙂", "x" * 33],
    "binary": [b"", b"\x00", b"\x01\x02", b"abc", b"\xff" * 9],
    "date32": [dt.date(1970, 1, 1), dt.date(2000, 2, 29), dt.date(1969, 12, 31), dt.date(2024, 5, 1)],
    "timestamp_us_utc": [
        dt.datetime(2020, 1, 1, tzinfo=dt.timezone.utc),
        dt.datetime(2020, 1, 1, 0, 0, 1, tzinfo=dt.timezone.utc),
        dt.datetime(1960, 6, 1, 12, tzinfo=dt.timezone.utc),
    ],
    "timestamp_ns": [dt.datetime(2021, 3, 4, 5, 6, 7), dt.datetime(2001, 1, 1), dt.datetime(1999, 12, 31, 23)],
    "dictionary": ["red", "green", "blue", "ünïcode"],
    # Views: inline (<= 12 bytes) and out-of-line values, multibyte characters.
    "string_view": ["", "a", "ab", "twelve bytes", "thirteen byte", "日本語のテキスト", "a" * 40, "é"],
    "binary_view": [b"", b"\x00", b"abc", b"\xff" * 13, b"0123456789abcdef"],
    "large_binary": [b"", b"\x01", b"zz", b"\x00" * 20],
    # Decimals at the type's limits, negative, and with trailing zeros.
    "decimal128": [Decimal("0.00"), Decimal("-0.01"), Decimal("1.50"), Decimal("-1.50"),
                   Decimal("9999999999999.99"), Decimal("-9999999999999.99"), Decimal("42.00")],
    "decimal128_38": [Decimal("0"), Decimal("-1E-10"), Decimal("12345678901234567890.0123456789"),
                      Decimal("9999999999999999999999999999.9999999999"),
                      Decimal("-9999999999999999999999999999.9999999999"), Decimal("-3.5")],
    "decimal64": [Decimal("0.000"), Decimal("-1.250"), Decimal("999999999999999.999"), Decimal("7.000")],
}

TYPES: dict[str, pa.DataType] = {
    "int8": pa.int8(), "int16": pa.int16(), "int32": pa.int32(), "int64": pa.int64(),
    "uint8": pa.uint8(), "uint16": pa.uint16(), "uint32": pa.uint32(), "uint64": pa.uint64(),
    "float32": pa.float32(), "float64": pa.float64(), "bool": pa.bool_(),
    "string": pa.string(), "large_string": pa.large_string(), "binary": pa.binary(),
    "date32": pa.date32(), "timestamp_us_utc": pa.timestamp("us", tz="UTC"),
    "timestamp_ns": pa.timestamp("ns"), "dictionary": pa.string(),
    "string_view": pa.string_view(), "binary_view": pa.binary_view(), "large_binary": pa.large_binary(),
    "decimal128": pa.decimal128(15, 2), "decimal128_38": pa.decimal128(38, 10), "decimal64": pa.decimal64(18, 3),
}

KEY_TYPES = list(VALUES)
# Types DuckDB orders exactly as SQL does and as we do (its float -0.0/0.0 tie order differs).
NUMERIC_TYPES = ["int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "float32", "float64", "bool"]


def make_array(kind: str, values: list[Any]) -> pa.Array:
    arr = pa.array(values, type=TYPES[kind])
    return arr.dictionary_encode() if kind == "dictionary" else arr


@st.composite
def column_values(draw: st.DrawFn, kind: str, n: int, null_rate: float | None = None) -> list[Any]:
    domain = VALUES[kind]
    if null_rate is None:
        null_rate = draw(st.sampled_from([0.0, 0.0, 0.2, 0.5, 1.0]))
    skew = draw(st.booleans())  # heavy skew: most rows share one value
    out = []
    for _ in range(n):
        if null_rate and draw(st.floats(0, 1)) < null_rate:
            out.append(None)
        elif skew and draw(st.integers(0, 9)) < 8:
            out.append(domain[0])
        else:
            out.append(draw(st.sampled_from(domain)))
    return out


@st.composite
def tables(
    draw: st.DrawFn,
    key_kinds: list[str],
    prefix: str = "k",
    payload: str | None = None,
    max_rows: int = 40,
    sliced: bool = True,
) -> pa.Table:
    """A table with key columns {prefix}0.. of the given kinds, an optional payload
    column, chunked or sliced at random (non-zero offsets)."""
    n = draw(st.integers(0, max_rows))
    pad = draw(st.integers(0, 3)) if sliced else 0
    cols, names = [], []
    for i, kind in enumerate(key_kinds):
        vals = draw(column_values(kind, n + 2 * pad))
        cols.append(make_array(kind, vals))
        names.append(f"{prefix}{i}")
    if payload is not None:
        cols.append(pa.array(list(range(n + 2 * pad)), pa.int64()))
        names.append(payload)
    t = pa.table(cols, names=names)
    if pad:
        t = t.slice(pad, n)
    if n > 2 and draw(st.booleans()):  # several chunks
        cut = draw(st.integers(1, n - 1))
        t = pa.concat_tables([t.slice(0, cut), t.slice(cut)])
    return t


def canon(v: Any) -> Any:
    """A hashable, totally ordered stand-in for one value (NaN and -0.0 made comparable)."""
    if v is None:
        return (0, "")
    if isinstance(v, float):
        if math.isnan(v):
            return (2, "nan")
        return (1, repr(v + 0.0))
    if isinstance(v, dt.datetime) and v.tzinfo is not None:
        v = v.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return (1, repr(v))


def rows(table: pa.Table, columns: list[str] | None = None) -> list[tuple[Any, ...]]:
    """Rows of ``table`` (selected columns) as sorted canonical tuples: a multiset."""
    columns = columns or table.column_names
    data = [table.column(c).to_pylist() for c in columns]
    return sorted(tuple(canon(col[i]) for col in data) for i in range(table.num_rows))


def duck(sql: str, **tables_: pa.Table) -> pa.Table:
    import duckdb

    con = duckdb.connect()
    for name, t in tables_.items():
        con.register(name, t)
    return con.sql(sql).to_arrow_table()
