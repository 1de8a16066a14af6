"""kernel.arith.decimal_arith against DuckDB: exact decimal128 add, sub and mul, nulls, broadcasts, overflow."""
from __future__ import annotations

import decimal

import duckdb
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_provider_cylon.kernel.arith import decimal_arith, natural_scale, supports

SQL_OP = {"add": "+", "sub": "-", "mul": "*"}


@st.composite
def decimal_columns(draw: st.DrawFn) -> tuple[pa.DataType, list[decimal.Decimal | None]]:
    precision = draw(st.integers(1, 18))
    scale = draw(st.integers(0, precision))
    bound = 10 ** precision - 1
    values = draw(st.lists(st.one_of(st.none(), st.integers(-bound, bound)), min_size=0, max_size=40))
    t = pa.decimal128(precision, scale)
    return t, [None if v is None else decimal.Decimal(v).scaleb(-scale) for v in values]


def _duck(op: str, a: pa.Array, b: pa.Array) -> pa.Array:
    con = duckdb.connect()
    operands = pa.table({"a": a, "b": b})  # noqa: F841 - read by DuckDB's replacement scan
    return con.sql(f"SELECT a {SQL_OP[op]} b AS r FROM operands").to_arrow_table().column("r").combine_chunks()


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(["add", "sub", "mul"]), decimal_columns(), decimal_columns(), st.integers(1, 3))
def test_matches_duckdb_exactly(op: str, left: tuple, right: tuple, chunks: int) -> None:
    (lt, lv), (rt, rv) = left, right
    n = min(len(lv), len(rv))
    a, b = pa.array(lv[:n], lt), pa.array(rv[:n], rt)
    want = _duck(op, a, b)
    out = pa.decimal128(min(38, want.type.precision), want.type.scale)
    if not supports(op, lt, rt, out):  # DuckDB rounded the scale: not the kernel's case
        assert out.scale != natural_scale(op, lt, rt)
        return
    cut = [a.slice(i * n // chunks, (i + 1) * n // chunks - i * n // chunks) for i in range(chunks)]
    got = decimal_arith(op, pa.chunked_array(cut, lt), pa.chunked_array([b], rt), out)
    assert got.type == out
    assert got.to_pylist() == want.cast(out).to_pylist()


def test_scalars_broadcast_and_nulls_propagate() -> None:
    b = pa.chunked_array([pa.array([decimal.Decimal("0.05"), None], pa.decimal128(15, 2)),
                          pa.array([decimal.Decimal("0.10")], pa.decimal128(15, 2))])
    one = pa.scalar(decimal.Decimal(1), pa.decimal128(1, 0))
    got = decimal_arith("sub", one, b, pa.decimal128(16, 2))
    assert got.num_chunks == 2 and got.to_pylist() == [decimal.Decimal("0.95"), None, decimal.Decimal("0.90")]
    assert decimal_arith("mul", one, one, pa.decimal128(2, 0)).as_py() == 1
    empty = pa.chunked_array([], pa.decimal128(15, 2))
    assert decimal_arith("add", empty, one, pa.decimal128(16, 2)).to_pylist() == []


def test_overflow_is_an_error_naming_the_row_and_operands() -> None:
    big = pa.array([decimal.Decimal(1), decimal.Decimal(10) ** 37], pa.decimal128(38, 0))
    ten = pa.array([decimal.Decimal(10)] * 2, pa.decimal128(2, 0))
    with pytest.raises(OverflowError, match=r"multiplication at row 1: 1(0){37} .* do not fit DECIMAL\(38,0\)"):
        decimal_arith("mul", big, ten, pa.decimal128(38, 0))
