"""Every expression form, evaluated by Expr on random tables, against DuckDB on the same SQL text."""
from __future__ import annotations

import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.unit.runtime.expr.duck import (
    DECIMALS,
    FLOATS,
    INTS,
    STRINGS,
    TIMESTAMPS,
    bool_expr,
    check_expression,
    check_filter,
    extract_expr,
    num_expr,
    str_expr,
    tables,
    temporal_expr,
)

# 60 examples a property keeps the suite fast on 2 shared cores; EXPR_EXAMPLES=1000 for a deeper run.
PROPERTY = settings(max_examples=int(os.environ.get("EXPR_EXAMPLES", "60")), deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@PROPERTY
@given(tables(names=INTS + ["b"]), num_expr(families=("int",)))
def test_integer_arithmetic(table, sql) -> None:
    check_expression(sql, table)


@PROPERTY
@given(tables(names=INTS + DECIMALS + ["b"]), num_expr(families=("dec", "int")))
def test_decimal_arithmetic(table, sql) -> None:
    check_expression(sql, table)


@PROPERTY
@given(tables(names=INTS + FLOATS + DECIMALS + ["b"]), num_expr(families=("float", "int", "dec")))
def test_float_arithmetic(table, sql) -> None:
    check_expression(sql, table)


@PROPERTY
@given(tables(), str_expr())
def test_strings(table, sql) -> None:
    check_expression(sql, table)


@PROPERTY
@given(tables(names=["dt"] + TIMESTAMPS), st.one_of(temporal_expr(), extract_expr()))
def test_dates_and_timestamps(table, sql) -> None:
    check_expression(sql, table)


@PROPERTY
@given(tables(), bool_expr())
def test_predicates_as_values(table, sql) -> None:
    check_expression(sql, table)


@PROPERTY
@given(tables(), bool_expr())
def test_filters_keep_the_rows_duckdb_keeps(table, sql) -> None:
    check_filter(sql, table)
