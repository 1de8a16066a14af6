"""Exhaustive small grids against DuckDB: LIKE patterns, SUBSTRING bounds, round digits, CAST pairs.

The property tests draw forms at random; these walk every combination of the edge cases that
tripped Arrow's defaults (LIKE escapes, negative substring starts, 2.675 rounding, CAST rounding).
"""
from __future__ import annotations

import datetime
import decimal
import random

import pyarrow as pa
import pytest

from tests.unit.runtime.expr.duck import check_expression

D = decimal.Decimal

STRINGS = pa.table({"rid": pa.array(range(22), pa.int64()), "s": pa.array(
    ["", "a", "abc", "a.c", "a*c", "a+c", "a?c", "[a]", "(a)", "^a$", "a\\c", "a\\\\c", "héllo", "日本語",
     "a\nb", "50%", "a_b", "A", "ÉTÉ", "été", "{1}", None], pa.string_view())})
PATTERNS = ["%", "_", "a%", "%c", "a_c", "a.c", "a*c", "[a]", "(a)", "^a$", "a\\c", "a\\%", "h_llo", "日%", "%語",
            "___", "50%", "50\\%", "É%", "é%", "{1}", "a%%c", ""]


@pytest.mark.parametrize("op", ["LIKE", "NOT LIKE", "ILIKE", "NOT ILIKE"])
@pytest.mark.parametrize("pattern", PATTERNS)
def test_like(op: str, pattern: str) -> None:
    check_expression(f"s {op} '{pattern}'", STRINGS)


@pytest.mark.parametrize("start", range(-7, 8))
def test_substring(start: int) -> None:
    check_expression(f"substring(s, {start})", STRINGS)
    for length in range(0, 7):
        check_expression(f"substring(s, {start}, {length})", STRINGS)
    if start > 0:
        for length in range(-4, 0):
            check_expression(f"substring(s, {start}, {length})", STRINGS)


_rng = random.Random(1)
_FLOATS = [0.5, 1.5, 2.5, -2.5, 1.005, 2.675, 0.285, 1234.5, 1e300, -1e300, 1e-300, float("nan"), float("inf"),
           -0.0, 5e15 + 0.5, 123456.789, None] + [_rng.uniform(-1e4, 1e4) for _ in range(60)]
NUMBERS = pa.table({
    "rid": pa.array(range(len(_FLOATS)), pa.int64()),
    "f": pa.array(_FLOATS), "g": pa.array(_FLOATS, pa.float32()),
    "x": pa.array([D(str(round(v, 3))) if v is not None and v == v and abs(v) < 1e9 else None for v in _FLOATS],
                  pa.decimal128(18, 3)),
    "i": pa.array([int(v) if v is not None and v == v and abs(v) < 1e9 else None for v in _FLOATS], pa.int32()),
})


@pytest.mark.parametrize("col", ["f", "g", "x", "i"])
@pytest.mark.parametrize("digits", [None, -3, -1, 0, 1, 2, 3, 10])
def test_round(col: str, digits: int | None) -> None:
    check_expression(f"round({col})" if digits is None else f"round({col}, {digits})", NUMBERS)


CASTS = pa.table({
    "rid": pa.array(range(9), pa.int64()),
    "f": pa.array([0.5, 1.5, 2.5, -2.5, 1.25, 123.0, -0.0, 3.999999, None]),
    "x": pa.array([D("0.50"), D("1.50"), D("2.50"), D("-2.50"), D("1.25"), D("99999.99"), D("0"), D("-0.05"), None],
                  pa.decimal128(15, 2)),
    "s": pa.array(["12", " 12 ", "1.5", "-3", "abc", "1e3", "0012", "+5", None], pa.string_view()),
    "sd": pa.array(["1998-01-01", "1998-1-1", "1998-01-01 10:00:00", "2000-02-29", "x", "1998-01-01", "1998-01-01",
                    "1998-01-01", None]),
    "i": pa.array([1, 0, -1, 127, 128, 300, 2 ** 31 - 1, -5, None], pa.int64()),
    "b": pa.array([True, False, None, True, False, True, False, True, None]),
    "dt": pa.array([datetime.date(1998, 1, 1)] * 8 + [None]),
    "ts": pa.array([datetime.datetime(1998, 1, 1, 10, 30, 15, 500000)] * 4
                   + [datetime.datetime(1998, 1, 1, 10, 30)] * 4 + [None]),
})


@pytest.mark.parametrize("col", ["f", "x", "s", "i", "b", "dt", "ts", "sd"])
@pytest.mark.parametrize("target", ["integer", "bigint", "tinyint", "smallint", "double", "real", "decimal(15,2)",
                                    "decimal(5,1)", "decimal(3,0)", "varchar", "boolean", "date", "timestamp"])
def test_cast(col: str, target: str) -> None:
    check_expression(f"CAST({col} AS {target})", CASTS)
