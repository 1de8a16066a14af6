"""SQL text -> JSON expression tree: literal typing as DuckDB's, constant folding, aggregates, errors."""
from __future__ import annotations

import json

import duckdb
import pyarrow as pa
import pytest

from airflow_provider_cylon.client.sql import parse_aggregates, parse_expression, sql_to_arrow_type
from airflow_provider_cylon.runtime.expr import Expr, ExpressionError, arrow_type, render


def tree(sql: str) -> dict:
    return parse_expression(sql)["tree"]


@pytest.mark.parametrize("sql, lit_type", [
    ("1", "integer"), ("2147483648", "bigint"), ("0.05", "decimal(3,2)"), ("100.00", "decimal(5,2)"),
    ("00.050", "decimal(5,3)"), ("5.", "decimal(1,0)"), ("1.5e3", "double"), ("'x'", "varchar"),
    ("TRUE", "boolean"), ("NULL", "null"), ("DATE '1998-09-02'", "date"),
    ("TIMESTAMP '1998-09-02 10:00:00'", "timestamp"), ("-5", "integer"), ("-0.25", "decimal(3,2)"),
])
def test_literal_types_are_duckdbs(sql: str, lit_type: str) -> None:
    assert tree(sql)["type"] == lit_type
    duck = duckdb.sql(f"SELECT typeof({sql})").fetchall()[0][0].lower().replace(" ", "")
    if lit_type not in ("null", "varchar", "boolean"):
        assert duck == lit_type, f"DuckDB types {sql} as {duck}"


@pytest.mark.parametrize("sql, value", [
    ("date '1998-12-01' - interval '90' day", "1998-09-02 00:00:00"),
    ("date '1993-07-01' + interval '3' month", "1993-10-01 00:00:00"),
    ("date '2000-01-31' + interval '1' month", "2000-02-29 00:00:00"),
    ("date '1994-01-01' + interval '1' year", "1995-01-01 00:00:00"),
    ("interval '1' year + date '1994-01-01'", "1995-01-01 00:00:00"),
    ("date '1995-03-31' - interval '1' month", "1995-02-28 00:00:00"),
    ("date '1995-03-31' + interval 3 days", "1995-04-03 00:00:00"),
    ("date '1995-03-31' + interval '2 months'", "1995-05-31 00:00:00"),
    ("timestamp '1995-03-31 10:30:00' + interval '1' day", "1995-04-01 10:30:00"),
])
def test_constant_date_arithmetic_is_folded_as_duckdb_computes_it(sql: str, value: str) -> None:
    got = tree(sql)
    assert got == {"lit": value, "type": "timestamp"}
    assert str(duckdb.sql(f"SELECT ({sql})::varchar").fetchall()[0][0]) == value.replace(" 00:00:00", "") or \
        str(duckdb.sql(f"SELECT ({sql})").fetchall()[0][0]) == value


def test_date_minus_integer_days_is_folded_to_a_date() -> None:
    assert tree("date '1998-12-01' - 90") == {"lit": "1998-09-02", "type": "date"}


def test_operators_map_to_tree_functions() -> None:
    t = tree("a // 2 = 1 and not b like 'x%' and c not in (1, 2) and d not between 1 and 2 and e is not null")
    fns = [a["fn"] for a in t["args"]]
    assert fns == ["and", "is_not_null"] or "is_not_null" in json.dumps(t)
    text = json.dumps(t)
    for fn in ("intdiv", "not_like", "not_in", "not_between", "is_not_null"):
        assert f'"{fn}"' in text


def test_case_with_subject_becomes_equalities() -> None:
    assert tree("case x when 1 then 'a' else 'b' end") == {
        "case": [[{"fn": "eq", "args": [{"col": "x"}, {"lit": 1, "type": "integer"}]}, {"lit": "a", "type": "varchar"}]],
        "else": {"lit": "b", "type": "varchar"}}


def test_functions() -> None:
    assert tree("extract(year from d)") == {"fn": "year", "args": [{"col": "d"}]}
    assert tree("year(d)") == {"fn": "year", "args": [{"col": "d"}]}
    assert tree("substring(s from 2 for 3)")["fn"] == "substring"
    assert tree("s || 'x'")["fn"] == "concat"
    assert tree("concat(s, 'x')")["fn"] == "concat_nonnull"
    assert tree("cast(x as decimal(15,2))") == {"cast": {"col": "x"}, "to": "decimal(15,2)"}
    assert tree("x::varchar") == {"cast": {"col": "x"}, "to": "varchar"}
    assert tree("coalesce(a, b, 0)")["fn"] == "coalesce"
    assert tree("round(x, 2)")["fn"] == "round" and tree("abs(x)")["fn"] == "abs"
    assert tree('"Mixed Case" > 1')["args"][0] == {"col": "Mixed Case"}


def test_json_round_trip_and_render() -> None:
    j = parse_expression("l_extendedprice * (1 - l_discount) * (1 + l_tax)")
    assert json.loads(json.dumps(j)) == j
    e = Expr.from_json(j)
    assert e.to_json() == j
    assert render(e.tree) == "l_extendedprice * (1 - l_discount) * (1 + l_tax)"
    again = parse_expression(render(e.tree))
    assert again["tree"] == j["tree"]


@pytest.mark.parametrize("sql, needle", [
    ("foo(x)", "unsupported function or operator foo"),
    ("x +", "syntax error"),
    ("a AS b", "alias"),
    ("x in (select 1)", "subqueries are not supported"),
    ("t.x > 1", "qualified column names"),
    ("sum(x) > 1", "aggregate functions are not allowed here"),
    ("x like 'a' escape 'b'", "ESCAPE is not supported"),
    ("interval '1' hour + x", "INTERVAL unit HOUR is not supported"),
    ("date '1998-13-01'", "is not a valid DATE"),
    ("cast(x as weird)", "unsupported type"),
    ("99999999999999999999", "out of the BIGINT range"),
    ("", "expected SQL expression text"),
])
def test_parse_errors_name_the_fragment(sql: str, needle: str) -> None:
    with pytest.raises(ExpressionError) as info:
        parse_expression(sql, where="steps[1].where")
    assert needle in str(info.value)
    if sql:
        assert info.value.where == "steps[1].where" and repr(sql) in str(info.value)


def test_aggregates() -> None:
    out = parse_aggregates("sum(l_extendedprice * (1 - l_discount))")
    assert out["expr"]["tree"] == {"col": "__agg0"}
    assert out["aggs"] == [{"name": "__agg0", "agg": "sum",
                            "arg": {"sql": "l_extendedprice * (1 - l_discount)",
                                    "tree": tree("l_extendedprice * (1 - l_discount)")}}]
    for sql, agg in [("count(*)", "count"), ("count(x)", "count"), ("count(distinct o_orderkey)", "nunique"),
                     ("avg(x)", "mean"), ("any_value(x)", "any_value"), ("var_samp(x)", "var"),
                     ("variance(x)", "var"), ("stddev(x)", "std"), ("stddev_samp(x)", "std"),
                     ("min(x)", "min"), ("max(x)", "max")]:
        assert parse_aggregates(sql)["aggs"][0]["agg"] == agg, sql
    assert parse_aggregates("count(*)")["aggs"][0]["arg"] is None


def test_aggregate_expression_over_placeholders_shares_equal_aggregates() -> None:
    out = parse_aggregates("100.00 * sum(case when p_type like 'PROMO%' then a else 0 end) / sum(a) + sum(a)")
    assert [a["name"] for a in out["aggs"]] == ["__agg0", "__agg1"]
    e = Expr.from_json(out["expr"])
    assert e.columns() == frozenset({"__agg0", "__agg1"})
    schema = pa.schema([("__agg0", pa.decimal128(38, 2)), ("__agg1", pa.decimal128(38, 2))])
    assert e.output_type(schema) == pa.float64()


@pytest.mark.parametrize("sql, needle", [
    ("sum(sum(x))", "cannot be nested"),
    ("sum(x) + y", "column 'y' is used outside an aggregate"),
    ("x + 1", "expected an aggregate"),
    ("stddev_pop(x)", "unsupported aggregate"),
    ("sum(*)", "only count(*)"),
    ("min(a, 3)", "takes one argument"),
    ("count(a, b)", "takes one argument"),
    ("avg(distinct a)", "DISTINCT is supported only as count(DISTINCT x)"),
    ("sum(a) over ()", "unsupported function or operator Window"),
])
def test_aggregate_errors(sql: str, needle: str) -> None:
    with pytest.raises(ExpressionError) as info:
        parse_aggregates(sql, where="steps[3].aggs.revenue")
    assert needle in str(info.value) and info.value.where == "steps[3].aggs.revenue"


def test_type_names() -> None:
    assert sql_to_arrow_type("integer") == pa.int32() == arrow_type("INT")
    assert arrow_type("bigint") == pa.int64()
    assert arrow_type("double") == pa.float64()
    assert arrow_type("decimal(15,2)") == pa.decimal128(15, 2)
    assert arrow_type("numeric(50, 4)") == pa.decimal256(50, 4)
    assert arrow_type("decimal") == pa.decimal128(18, 3)
    assert arrow_type("varchar") == pa.string() and arrow_type("varchar(25)") == pa.string()
    assert arrow_type("date") == pa.date32()
    assert arrow_type("timestamp") == pa.timestamp("us")
    assert arrow_type("timestamptz") == pa.timestamp("us", tz="UTC")
    assert arrow_type("boolean") == pa.bool_()


def test_aggregate_types_are_duckdbs() -> None:
    from airflow_provider_cylon.runtime.expr.aggregates import typed_aggregates

    schema = pa.schema([("l_extendedprice", pa.decimal128(15, 2)), ("l_discount", pa.decimal128(15, 2)),
                        ("l_quantity", pa.int64()), ("p_type", pa.string_view()), ("f", pa.float32())])
    con = duckdb.connect()
    con.execute("CREATE TABLE t (l_extendedprice DECIMAL(15,2), l_discount DECIMAL(15,2), l_quantity BIGINT, "
                "p_type VARCHAR, f FLOAT)")
    for sql in ["sum(l_extendedprice * (1 - l_discount))", "avg(l_quantity)", "count(*)", "sum(l_quantity)",
                "count(distinct p_type)", "min(p_type)", "max(l_discount)", "stddev(f)", "var_samp(l_quantity)",
                "sum(f)", "any_value(l_quantity)",
                "100.00 * sum(case when p_type like 'PROMO%' then l_extendedprice else 0 end) / sum(l_extendedprice)",
                "sum(l_extendedprice) / count(*)", "sum(l_quantity) + 1"]:
        got, _ = typed_aggregates(parse_aggregates(sql), schema)
        ref = con.sql(f"SELECT {sql} AS v FROM t").to_arrow_table().schema.field("v").type
        assert got == ref or (pa.types.is_string(ref) and pa.types.is_string(got)), f"{sql}: {got} vs DuckDB {ref}"


def test_aggregate_type_errors() -> None:
    from airflow_provider_cylon.runtime.expr.aggregates import typed_aggregates

    schema = pa.schema([("p_type", pa.string())])
    with pytest.raises(ExpressionError, match="sum.. needs numbers, found values of type string"):
        typed_aggregates(parse_aggregates("sum(p_type)"), schema, where="steps[1].aggs.x")
    with pytest.raises(ExpressionError, match="unknown column 'p_typ'"):
        typed_aggregates(parse_aggregates("max(p_typ)"), schema, where="steps[1].aggs.x")
