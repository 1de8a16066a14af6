"""Decimals in every aggregation, global aggregates (empty ``by``), and the two-phase path, against DuckDB.

Sums are exact (decimal(38, s)), means are DuckDB's doubles bit for bit, so
results are compared with ``==``, never approximately.
"""
from __future__ import annotations

from decimal import Decimal

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_provider_cylon import kernel
from airflow_provider_cylon.kernel import CylonKernelError

from .tables import canon, column_values, duck, make_array, tables

DECIMAL_KINDS = ["decimal128", "decimal128_38", "decimal64"]
KEY_KINDS = ["int64", "string_view", "decimal128", "decimal128_38", "dictionary", "int8"]
OPS = ["sum", "count", "min", "max", "mean", "nunique", "first", "last", "any_value"]
SQL = {
    "sum": "sum(v)", "count": "count(v)", "min": "min(v)", "max": "max(v)", "mean": "avg(v)",
    "nunique": "count(DISTINCT v)", "first": "first(v ORDER BY rid)", "last": "last(v ORDER BY rid)",
    "any_value": "any_value(v ORDER BY rid)",
}


@st.composite
def decimal_inputs(draw: st.DrawFn, max_keys: int = 2):
    kinds = [draw(st.sampled_from(KEY_KINDS)) for _ in range(draw(st.integers(0, max_keys)))]
    t = draw(tables(kinds, payload="rid", max_rows=40, sliced=False))
    t = t.set_column(t.column_names.index("rid"), "rid", pa.array(range(t.num_rows), pa.int64()))
    vkind = draw(st.sampled_from(DECIMAL_KINDS))
    t = t.append_column("v", make_array(vkind, draw(column_values(vkind, t.num_rows))))
    return t, [f"k{i}" for i in range(len(kinds))]


def reference(t: pa.Table, keys: list[str], ops: list[str]) -> pa.Table | None:
    """DuckDB's answer, or None when DuckDB raises (an overflowing sum)."""
    import duckdb

    sel = ", ".join(f"{SQL[op]} AS v_{op}" for op in ops)
    group = " GROUP BY ALL" if keys else ""
    try:
        return duck(f"SELECT {', '.join(keys + [sel])} FROM t{group}", t=t)
    except duckdb.OutOfRangeException:
        return None


def by_key(table: pa.Table, keys: list[str]) -> dict:
    kc = [table.column(k).to_pylist() for k in keys]
    return {tuple(canon(c[i]) for c in kc): i for i in range(table.num_rows)}


def assert_same(ours: pa.Table, ref: pa.Table, keys: list[str], ops: list[str]) -> None:
    assert ours.num_rows == ref.num_rows
    ours_at, ref_at = by_key(ours, keys), by_key(ref, keys)
    assert ours_at.keys() == ref_at.keys()
    for op in ops:
        o, r = ours.column(f"v_{op}").to_pylist(), ref.column(f"v_{op}").to_pylist()
        for key, i in ours_at.items():
            assert o[i] == r[ref_at[key]], (op, key, o[i], r[ref_at[key]])


def assert_exact_sums(ours: pa.Table, t: pa.Table, keys: list[str]) -> None:
    """Where DuckDB's accumulator overflowed on the way (its order of additions, which follows
    its threads and the table's chunks: mixed signs near the type's limits) and ours did not
    raise: the exact sums all fit decimal(38, s), and ours are those sums."""
    scale = t.schema.field("v").type.scale
    exact: dict[tuple, int] = {}
    for row in t.to_pylist():
        if row["v"] is not None:
            key = tuple(row[k] for k in keys)
            exact[key] = exact.get(key, 0) + int(row["v"].scaleb(scale))
    assert all(abs(total) < 10**38 for total in exact.values()), "DuckDB's sum overflows, ours did not raise"
    got = {tuple(r[k] for k in keys): r["v_sum"] for r in ours.to_pylist()}
    assert all(got[key] is not None and int(got[key].scaleb(scale)) == total for key, total in exact.items())


def assert_types(ours: pa.Table, t: pa.Table) -> None:
    vt = t.schema.field("v").type
    assert ours.schema.field("v_sum").type == pa.decimal128(38, vt.scale)  # as DuckDB's sum(decimal)
    assert ours.schema.field("v_mean").type == pa.float64()  # as DuckDB's avg(decimal)
    for op in ("min", "max", "first", "last", "any_value"):
        assert ours.schema.field(f"v_{op}").type == vt


@settings(max_examples=150, deadline=None)
@given(data=decimal_inputs())
def test_decimal_aggregates_match_duckdb(data) -> None:
    t, keys = data
    ref = reference(t, keys, OPS)
    if ref is None:
        # DuckDB overflowed: ours either raises too or (adding in another order) gives the exact sums
        try:
            ours = kernel.groupby(t, keys, {"v": OPS})
        except CylonKernelError as err:
            assert "does not fit decimal" in str(err), err
            return
        assert_exact_sums(ours, t, keys)
        return
    ours = kernel.groupby(t, keys, {"v": OPS})
    assert_types(ours, t)
    assert_same(ours, ref, keys, OPS)


@settings(max_examples=150, deadline=None)
@given(data=decimal_inputs(), cuts=st.lists(st.integers(0, 40), max_size=3))
def test_two_phase_decimal_groupby_is_exact(data, cuts) -> None:
    t, keys = data
    bounds = sorted({0, t.num_rows, *[min(c, t.num_rows) for c in cuts]})
    pieces = [t.slice(a, b - a) for a, b in zip(bounds, bounds[1:])] or [t]
    ref = reference(t, keys, OPS)
    try:
        partials = [kernel.groupby_partial(p, keys, {"v": OPS}) for p in pieces]
        ours = kernel.groupby_combine(partials, keys, {"v": OPS})
    except CylonKernelError as err:
        # DuckDB overflows too, or a worker's own sum passes the 128-bit state (DuckDB's
        # hugeint accumulator has the same bound; only its order of additions differs).
        assert "does not fit decimal" in str(err) or "128-bit range" in str(err), err
        if ref is not None:
            scale = t.schema.field("v").type.scale  # some worker's group could reach 2^127
            assert any(sum(abs(v) for v in p.column("v").to_pylist() if v is not None) * 10**scale >= 2**127
                       for p in pieces), err
        return
    if ref is None:
        assert_exact_sums(ours, t, keys)
        return
    assert_types(ours, t)
    assert_same(ours, ref, keys, OPS)


def test_decimal_sum_overflow_is_an_error_not_a_wrap() -> None:
    big = Decimal("9" * 38)
    t = pa.table({"v": pa.array([big, Decimal(1)], pa.decimal128(38, 0))})
    with pytest.raises(CylonKernelError, match=r"column 'v'.*does not fit decimal\(38, 0\)"):
        kernel.groupby(t, [], {"v": "sum"})
    near = pa.table({"v": pa.array([Decimal("9" * 37), Decimal(1)], pa.decimal128(38, 0))})
    assert kernel.groupby(near, [], {"v": "sum"}).column(0).to_pylist() == [Decimal("1" + "0" * 37)]


def test_decimal256_keys_and_values_agree_with_decimal128() -> None:
    vals = [Decimal("1.25"), Decimal("-7.10"), None, Decimal("1.25"), Decimal("99999999999.99")]
    keys = [Decimal("3.00"), Decimal("-3.00"), Decimal("3.00"), None, Decimal("-3.00")]
    narrow = pa.table({"k": pa.array(keys, pa.decimal128(12, 2)), "v": pa.array(vals, pa.decimal128(13, 2))})
    wide = narrow.cast(pa.schema([("k", pa.decimal256(50, 2)), ("v", pa.decimal256(60, 2))]))
    aggs = {"v": ["sum", "mean", "min", "max", "nunique", "count"]}
    a = kernel.sort(kernel.groupby(narrow, ["k"], aggs), ["k"])
    b = kernel.sort(kernel.groupby(wide, ["k"], aggs), ["k"])
    assert a.column("k").to_pylist() == b.column("k").to_pylist() == [Decimal("-3.00"), Decimal("3.00"), None]
    for name in a.column_names[1:]:
        assert a.column(name).to_pylist() == b.column(name).to_pylist(), name
    assert b.schema.field("v_sum").type == pa.decimal128(38, 2)
    # The row hash of a decimal is its unscaled value's: 128- and 256-bit columns partition alike.
    assert kernel.row_hash(narrow, ["k"]).equals(kernel.row_hash(wide, ["k"]))


def test_decimal_join_keys_with_different_scales_match_as_duckdb() -> None:
    left = pa.table({"k": pa.array([Decimal("1.5"), Decimal("2.0"), None, Decimal("-0.1")], pa.decimal128(5, 1)),
                     "a": [1, 2, 3, 4]})
    right = pa.table({"k": pa.array([Decimal("1.50"), Decimal("2.01"), Decimal("-0.10"), None], pa.decimal128(9, 2)),
                      "b": [10, 20, 30, 40]})
    for how in ("inner", "left", "outer", "semi", "anti"):
        ours = kernel.join(left, right, on="k", how=how)
        sql_how = {"semi": "SEMI", "anti": "ANTI", "outer": "FULL OUTER"}.get(how, how.upper())
        ref = duck(f"SELECT * FROM l {sql_how} JOIN r USING (k)", l=left, r=right)
        # Values, not scales: the USING key may come back in the common type decimal(9, 2).
        def value(x):
            return canon(x.normalize() if isinstance(x, Decimal) else x)

        norm = sorted(tuple(value(x) for x in row) for row in zip(*[c.to_pylist() for c in ours.columns]))
        want = sorted(tuple(value(x) for x in row) for row in zip(*[c.to_pylist() for c in ref.columns]))
        assert norm == want, how


@settings(max_examples=100, deadline=None)
@given(data=decimal_inputs(max_keys=0))
def test_global_aggregate_is_one_row_as_sql(data) -> None:
    t, _ = data
    ops = ["count", "min", "max", "nunique", "first", "last", "any_value"]
    ours = kernel.groupby(t, [], {"v": ops, "rid": ["count", "sum"]})
    ref = duck(f"SELECT {', '.join(f'{SQL[op]} AS v_{op}' for op in ops)}, count(rid) AS rid_count, "
               f"sum(rid) AS rid_sum FROM t", t=t)
    assert ours.num_rows == 1
    for name in ref.column_names:
        assert ours.column(name).to_pylist() == ref.column(name).to_pylist(), name


def test_global_aggregate_of_an_empty_table_counts_zero() -> None:
    t = pa.table({"x": pa.array([], pa.int64()), "d": pa.array([], pa.decimal128(15, 2))})
    aggs = {"x": ["count", "sum", "mean", "min", "first", "any_value", "nunique", "var"], "d": ["sum", "mean"]}
    one = kernel.groupby(t, [], aggs)
    assert one.to_pylist() == [{"x_count": 0, "x_sum": None, "x_mean": None, "x_min": None, "x_first": None,
                                "x_any_value": None, "x_nunique": 0, "x_var": None, "d_sum": None, "d_mean": None}]
    partials = [kernel.groupby_partial(t, [], aggs), kernel.groupby_partial(t.slice(0, 0), [], aggs)]
    assert all(p.num_rows == 0 for p in partials)
    assert kernel.groupby_combine(partials, [], aggs).to_pylist() == one.to_pylist()


def test_global_two_phase_skips_empty_workers() -> None:
    t = pa.table({"x": pa.array([None, 4, 5], pa.int64())})
    aggs = {"x": ["first", "any_value", "count", "sum", "mean"]}
    partials = [kernel.groupby_partial(t.slice(0, 0), [], aggs), kernel.groupby_partial(t, [], aggs)]
    assert kernel.groupby_combine(partials, [], aggs).to_pylist() == [
        {"x_first": None, "x_any_value": 4, "x_count": 2, "x_sum": 9, "x_mean": 4.5}
    ]


@pytest.mark.parametrize("constant", [pa.array([1] * 5, pa.int8()), pa.repeat(pa.scalar(True), 5),
                                      pa.repeat(pa.scalar("x", pa.string_view()), 5)])
def test_count_of_a_constant_column_is_count_star(constant) -> None:
    t = pa.table({"k": [1, 1, 2, None, 2], "one": constant})
    out = kernel.sort(kernel.groupby(t, ["k"], {"one": "count"}), ["k"])
    assert out.to_pylist() == [{"k": 1, "one_count": 2}, {"k": 2, "one_count": 2}, {"k": None, "one_count": 1}]
    assert kernel.groupby(t, [], {"one": "count"}).to_pylist() == [{"one_count": 5}]


def test_decimal_var_is_over_doubles_as_duckdb() -> None:
    t = pa.table({"v": pa.array([Decimal("1.10"), Decimal("2.20"), Decimal("4.40")], pa.decimal128(15, 2))})
    ours = kernel.groupby(t, [], {"v": ["var", "std"]})
    ref = duck("SELECT var_samp(v) AS v_var, stddev_samp(v) AS v_std FROM t", t=t)
    assert ours.column("v_var").to_pylist()[0] == pytest.approx(ref.column("v_var").to_pylist()[0], rel=1e-12)
    assert ours.column("v_std").to_pylist()[0] == pytest.approx(ref.column("v_std").to_pylist()[0], rel=1e-12)
