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
