"""Evaluator: common subexpressions of expressions evaluated on one table are computed once."""
from __future__ import annotations

import decimal

import duckdb
import pyarrow as pa
import pytest

from airflow_provider_cylon.client.sql import parse_expression
from airflow_provider_cylon.runtime.expr import Expr
from airflow_provider_cylon.runtime.expr.evaluate import Evaluator

D = decimal.Decimal
REVENUE = "l_extendedprice * (1 - l_discount)"
CHARGE = "l_extendedprice * (1 - l_discount) * (1 + l_tax)"


def table() -> pa.Table:
    return pa.table({
        "l_extendedprice": pa.array([D("21168.23"), D("45983.16"), None, D("13309.60")], pa.decimal128(15, 2)),
        "l_discount": pa.array([D("0.04"), D("0.09"), D("0.10"), None], pa.decimal128(15, 2)),
        "l_tax": pa.array([D("0.02"), D("0.06"), D("0.02"), D("0.08")], pa.decimal128(15, 2)),
    })


def expr(sql: str) -> Expr:
    return Expr.from_json(parse_expression(sql, where="test"))


def test_a_shared_evaluator_computes_a_common_subexpression_once(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    original = Evaluator._arithmetic

    def counted(self: Evaluator, node, t):  # type: ignore[no-untyped-def]
        calls.append(node.fn)
        return original(self, node, t)

    monkeypatch.setattr(Evaluator, "_arithmetic", counted)
    t = table()
    shared = Evaluator(t)
    revenue, charge = expr(REVENUE).evaluate(t, shared), expr(CHARGE).evaluate(t, shared)
    # 1 - d and p * (1 - d) once, then 1 + t and the last product: 4, where two evaluators make 6
    assert sorted(calls) == ["add", "mul", "mul", "sub"]
    calls.clear()
    alone = [expr(REVENUE).evaluate(t), expr(CHARGE).evaluate(t)]
    assert len(calls) == 6
    assert [revenue, charge] == alone
    want = duckdb.sql(f"SELECT {REVENUE} AS r, {CHARGE} AS c FROM t").to_arrow_table()
    assert revenue.to_pylist() == want.column("r").to_pylist()
    assert charge.to_pylist() == want.column("c").to_pylist()
