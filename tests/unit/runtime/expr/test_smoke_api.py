"""The API the step registry codes against: from_json, to_json, columns, output_type, evaluate, filter, pushdown."""
from __future__ import annotations

import datetime
import decimal

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from airflow_provider_cylon.client.sql import parse_aggregates, parse_expression
from airflow_provider_cylon.runtime.errors import SpecError
from airflow_provider_cylon.runtime.expr import Expr, ExpressionError

D = decimal.Decimal


def lineitem() -> pa.Table:
    return pa.table({
        "l_quantity": pa.array([D("17.00"), D("36.00"), None, D("8.00")], pa.decimal128(15, 2)),
        "l_extendedprice": pa.array([D("21168.23"), D("45983.16"), D("13309.60"), None], pa.decimal128(15, 2)),
        "l_discount": pa.array([D("0.04"), D("0.09"), D("0.10"), D("0.05")], pa.decimal128(15, 2)),
        "l_shipdate": pa.array([datetime.date(1996, 3, 13), datetime.date(1998, 9, 3), None,
                                datetime.date(1994, 1, 29)], pa.date32()),
        "l_shipmode": pa.array(["TRUCK", "MAIL", None, "AIR"], pa.string_view()),
    })


def test_round_trip_and_columns() -> None:
    j = parse_expression("l_extendedprice * (1 - l_discount)", where="steps[0].columns.revenue")
    e = Expr.from_json(j, where="steps[0].columns.revenue")
    assert e.to_json() == j
    assert Expr.from_json(e.to_json()) == e
    assert e.sql == "l_extendedprice * (1 - l_discount)"
    assert e.columns() == frozenset({"l_extendedprice", "l_discount"})
    assert e.output_type(lineitem().schema) == pa.decimal128(18, 4)
    got = e.evaluate(lineitem())
    assert got.to_pylist() == [D("20321.5008"), D("41844.6756"), D("11978.6400"), None]


def test_filter_keeps_true_rows_only() -> None:
    e = Expr.from_json(parse_expression("l_shipdate <= date '1998-12-01' - interval '90' day"))
    out = e.filter(lineitem())
    assert out.num_rows == 2
    assert out.schema == lineitem().schema  # string_view survives the filter


def test_pushdown_is_implied() -> None:
    e = Expr.from_json(parse_expression("l_shipdate <= date '1998-12-01' - interval '90' day "
                                        "and l_extendedprice * 2 > 10 and l_shipmode in ('MAIL', 'AIR')"))
    f = e.pushdown_filter(lineitem().schema)
    assert f is not None
    assert str(f) == str(pc.field("l_shipdate") <= pa.scalar(datetime.date(1998, 9, 2), pa.date32()))


def test_errors_are_spec_errors_with_where() -> None:
    e = Expr.from_json(parse_expression("l_shipdat < date '1998-01-01'"), where="steps[2].where")
    with pytest.raises(ExpressionError) as info:
        e.output_type(lineitem().schema)
    assert isinstance(info.value, SpecError)
    assert info.value.where == "steps[2].where"
    assert "l_shipdate" in str(info.value) and "date32" in str(info.value)


def test_aggregates_shape() -> None:
    out = parse_aggregates("sum(l_extendedprice * (1 - l_discount))")
    assert out["expr"]["tree"] == {"col": "__agg0"}
    assert out["aggs"][0]["agg"] == "sum"
    assert parse_aggregates("count(*)")["aggs"] == [{"name": "__agg0", "agg": "count", "arg": None}]


def test_case_branches_see_only_their_rows() -> None:
    table = pa.table({"d": pa.array([0, 2, None, -3], pa.int64()), "x": pa.array([7, 7, 7, 7], pa.int64())})
    e = Expr.from_json(parse_expression("case when d <> 0 then x // d else -1 end"))
    assert e.evaluate(table).to_pylist() == [-1, 3, -1, -2]
    assert Expr.from_json(parse_expression("coalesce(d, x // d)")).evaluate(table).to_pylist() == [0, 2, None, -3]
    assert Expr.from_json(parse_expression("d <> 0 and x // d > 0")).filter(table).column("d").to_pylist() == [2]


def test_month_arithmetic_on_a_column_clamps_the_day() -> None:
    table = pa.table({"d": pa.array([datetime.date(2000, 1, 31), datetime.date(1999, 3, 31), None])})
    got = Expr.from_json(parse_expression("d + interval '1' month")).evaluate(table)
    assert got.type == pa.timestamp("us")
    assert got.to_pylist() == [datetime.datetime(2000, 2, 29), datetime.datetime(1999, 4, 30), None]


def test_literals_broadcast_and_empty_tables() -> None:
    table = pa.table({"a": pa.array([1, 2, 3], pa.int32())})
    assert Expr.from_json(parse_expression("0.05")).evaluate(table).to_pylist() == [D("0.05")] * 3
    empty = table.slice(0, 0)
    got = Expr.from_json(parse_expression("a * 1.5")).evaluate(empty)
    assert len(got) == 0 and got.type == pa.decimal128(12, 1)
