"""Query steps (filter, project, with_columns, groupby expressions/having/global, top-N) on 1-4 ranks vs DuckDB.

Each step is written as SQL text, compiled as the submitting side compiles it, run
on 1-4 in-process ranks over any split of random data, and compared with DuckDB
running the same SQL on the same table.
"""
from __future__ import annotations

from decimal import Decimal
from typing import Any

import duckdb
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rt_inproc_channel import InProcessWorld  # noqa: E402
from rt_multiset import assert_same_rows  # noqa: E402

from airflow_provider_cylon import kernel
from airflow_provider_cylon.client.compile import compile_definition
from airflow_provider_cylon.runtime import ops
from airflow_provider_cylon.runtime.ops import step_from_dict

values = st.one_of(st.none(), st.integers(-20, 20))
rows = st.lists(st.tuples(st.one_of(st.none(), st.integers(-3, 3)), st.one_of(st.none(), st.sampled_from(["a", "b", "ç", "dé"])),
                          values), max_size=50)
cuts = st.lists(st.integers(0, 50), min_size=3, max_size=3)


def _table(data: list[tuple]) -> pa.Table:
    return pa.table({"k": pa.array([r[0] for r in data], pa.int64()), "s": pa.array([r[1] for r in data], pa.string()),
                     "v": pa.array([r[2] for r in data], pa.int64())})


def _shares(table: pa.Table, cut: list[int], world: int) -> list[pa.Table]:
    bounds = sorted(min(c, table.num_rows) for c in cut[: world - 1])
    edges = [0, *bounds, table.num_rows]
    return [table.slice(edges[i], edges[i + 1] - edges[i]) for i in range(world)]


def _step(data: dict[str, Any]) -> ops.Step:
    return step_from_dict(compile_definition({"op": "pipeline", "steps": [data]})["steps"][0])


def _run(step: ops.Step, table: pa.Table, world: int, cut: list[int]) -> list[pa.Table]:
    shares = _shares(table, cut, world)
    return InProcessWorld(world).run(lambda rank, channel: ops.run_step(ops.Dist(channel, rank, world), step,
                                                                        [shares[rank]]))


def _duck(sql: str, t: pa.Table) -> pa.Table:
    return duckdb.connect().from_arrow(t).query("t", sql).to_arrow_table()


STEPS = [
    ({"op": "filter", "where": "v > 0 AND s IS NOT NULL OR k IN (1, 2)"},
     "SELECT * FROM t WHERE v > 0 AND s IS NOT NULL OR k IN (1, 2)"),
    ({"op": "filter", "where": "NOT (v BETWEEN -5 AND 5) AND s LIKE '%é%' OR s IS NULL"},
     "SELECT * FROM t WHERE NOT (v BETWEEN -5 AND 5) AND s LIKE '%é%' OR s IS NULL"),
    ({"op": "project", "columns": {"key": "k", "w": "v * 2 + 1", "label": "CASE WHEN v > 0 THEN s ELSE 'neg' END"}},
     "SELECT k AS key, v * 2 + 1 AS w, CASE WHEN v > 0 THEN s ELSE 'neg' END AS label FROM t"),
    ({"op": "project", "columns": ["v", "k"]}, "SELECT v, k FROM t"),
    ({"op": "with_columns", "columns": {"v": "coalesce(v, 0) % 3", "t": "s || '!'"}},
     "SELECT k, s, coalesce(v, 0) % 3 AS v, s || '!' AS t FROM t"),
    ({"op": "groupby", "by": ["k"], "aggs": {"total": "sum(v * 2)", "n": "count(*)", "ds": "count(distinct s)",
                                             "mixed": "max(v) - min(v)"}, "having": "n > 1"},
     "SELECT k, sum(v * 2) AS total, count(*) AS n, count(DISTINCT s) AS ds, max(v) - min(v) AS mixed FROM t "
     "GROUP BY k HAVING count(*) > 1"),
    ({"op": "groupby", "aggs": {"total": "sum(v)", "n": "count(*)", "nv": "count(v)", "top": "max(s)"}},
     "SELECT sum(v) AS total, count(*) AS n, count(v) AS nv, max(s) AS top FROM t"),
]


def _normalise(table: pa.Table) -> pa.Table:
    """Same values, comparable types (DuckDB sums integers to HUGEINT -> decimal128(38, 0))."""
    cols = []
    for col in table.columns:
        if pa.types.is_decimal(col.type) and col.type.scale == 0:
            col = pa.chunked_array([pa.array([None if x is None else int(x) for x in col.to_pylist()], pa.int64())])
        cols.append(col)
    return pa.table(cols, names=table.column_names)


@settings(max_examples=40, deadline=None)
@given(data=rows, world=st.integers(1, 4), cut=cuts, case=st.sampled_from(range(len(STEPS))))
def test_query_step_matches_duckdb(data, world, cut, case) -> None:
    spec, sql = STEPS[case]
    table = _table(data)
    got = pa.concat_tables(_run(_step(spec), table, world, cut))
    want = _duck(sql, table)
    assert_same_rows(_normalise(got), _normalise(want), f"{spec} w={world}")


@settings(max_examples=40, deadline=None)
@given(data=rows, world=st.integers(1, 4), cut=cuts, limit=st.integers(0, 12), desc=st.booleans())
def test_top_n_is_the_prefix_of_the_stable_sort(data, world, cut, limit, desc) -> None:
    table = _table(data)
    step = _step({"op": "sort", "by": ["v", "k"], "ascending": [not desc, True], "limit": limit})
    got = pa.concat_tables(_run(step, table, world, cut))
    want = kernel.sort(table, ["v", "k"], ascending=[not desc, True]).slice(0, limit)
    assert got.to_pylist() == want.to_pylist()
    order = "DESC" if desc else "ASC"
    keys = _duck(f"SELECT v, k FROM t ORDER BY v {order} NULLS LAST, k ASC NULLS LAST LIMIT {limit}", table)
    assert got.select(["v", "k"]).to_pylist() == keys.to_pylist()


def test_global_aggregate_of_no_rows_is_one_row() -> None:
    step = _step({"op": "groupby", "aggs": {"total": "sum(v)", "n": "count(*)", "avg_v": "avg(v)"}})
    for world in (1, 3):
        parts = _run(step, _table([]), world, [0, 0, 0])
        assert pa.concat_tables(parts).to_pylist() == [{"total": None, "n": 0, "avg_v": None}]


def test_pruned_step_inputs_give_the_full_result_names() -> None:
    """A join's clashing columns keep their suffixes when a later step needs only one side's."""
    left = pa.table({"k": [1, 2], "c": ["l1", "l2"], "x": [10, 20]})
    right = pa.table({"k": [1, 2], "c": ["r1", "r2"]})
    join = _step({"op": "join", "on": "k"})
    needed = join.required_columns(frozenset({"c_x"}), [left.schema, right.schema])
    assert needed == [frozenset({"k", "c"}), frozenset({"k", "c"})]
    pruned = join.run(ops.Dist(None, 0, 1), [left.select(sorted(needed[0])), right.select(sorted(needed[1]))])
    assert "c_x" in pruned.column_names


@pytest.mark.parametrize("scale", [2, 4])
def test_decimal_expressions_in_steps_are_exact(scale: int) -> None:
    amounts = [Decimal("1.25"), Decimal("-3.50"), None, Decimal("10.05")]
    t = pa.table({"k": [1, 1, 2, 2], "p": pa.array(amounts, pa.decimal128(12, scale)),
                  "d": pa.array([Decimal("0.05")] * 4, pa.decimal128(4, 2))})
    step = _step({"op": "with_columns", "columns": {"net": "p * (1 - d)"}})
    got = pa.concat_tables(_run(step, t, 2, [2, 2, 2]))
    want = _duck("SELECT k, p, d, p * (1 - d) AS net FROM t", t)
    assert got.column("net").to_pylist() == want.column("net").to_pylist()
