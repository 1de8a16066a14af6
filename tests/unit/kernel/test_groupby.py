"""Group-by against DuckDB, and the two-phase (partial -> combine) path against one-phase."""
from __future__ import annotations

import math
from decimal import Decimal

import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from airflow_provider_cylon import kernel

from .tables import KEY_TYPES, NUMERIC_TYPES, canon, column_values, duck, make_array, tables

SQL = {
    "sum": "sum({c})",
    "count": "count({c})",
    "min": "min({c})",
    "max": "max({c})",
    "mean": "avg({c})",
    "var": "var_samp({c})",
    "std": "stddev_samp({c})",
    "nunique": "count(DISTINCT {c})",
    "first": "first({c} ORDER BY rid)",
    "last": "last({c} ORDER BY rid)",
    "any_value": "any_value({c} ORDER BY rid)",
}


def approx_equal(a, b) -> bool:
    if a is None or b is None:
        return a is None and b is None
    a, b = (int(x) if isinstance(x, bool) else x for x in (a, b))
    if isinstance(a, Decimal) or isinstance(b, Decimal):
        a, b = float(a), float(b)
    if isinstance(a, float) or isinstance(b, float):
        a, b = float(a), float(b)
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-6)
    return canon(a) == canon(b)


@st.composite
def groupby_inputs(draw: st.DrawFn):
    kinds = [draw(st.sampled_from(KEY_TYPES)) for _ in range(draw(st.integers(1, 2)))]
    t = draw(tables(kinds, payload="rid", max_rows=50, sliced=False))
    t = t.set_column(t.column_names.index("rid"), "rid", pa.array(range(t.num_rows), pa.int64()))
    vkind = draw(st.sampled_from(NUMERIC_TYPES))
    # Values without inf/huge so sums stay comparable; the kernel's NaN rules are tested separately.
    vals = draw(column_values(vkind, t.num_rows))
    if vkind.startswith("float"):
        vals = [v if v is None or (not math.isnan(v) and abs(v) < 1e6) else 1.0 for v in vals]
    elif vkind.startswith(("int", "uint")):
        vals = [v if v is None else v % 100 for v in vals]
    t = t.append_column("v", make_array(vkind, vals))
    return t, [f"k{i}" for i in range(len(kinds))], vkind


def check(ours: pa.Table, t: pa.Table, keys: list[str], ops: list[str], vkind: str) -> None:
    sel = ", ".join(f"{SQL[op].format(c='v')} AS v_{op}" for op in ops)
    cast = "::DOUBLE" if vkind != "bool" else "::INTEGER"
    ref = duck(f"SELECT {', '.join(keys)}, {sel} FROM (SELECT * REPLACE (v{cast} AS v) FROM t) GROUP BY ALL",
               t=t) if vkind == "bool" and any(o in ("sum", "mean", "var", "std") for o in ops) else duck(
        f"SELECT {', '.join(keys)}, {sel} FROM t GROUP BY ALL", t=t)
    assert_same_groups(ours, ref, keys, ops)


def assert_same_groups(ours: pa.Table, ref: pa.Table, keys: list[str], ops: list[str]) -> None:
    """Same groups (matched by key, any order) and approximately equal v_{op} columns."""
    assert ours.num_rows == ref.num_rows

    def by_key(table: pa.Table) -> dict:
        kc = [table.column(k).to_pylist() for k in keys]
        return {tuple(canon(c[i]) for c in kc): i for i in range(table.num_rows)}

    ours_at, ref_at = by_key(ours), by_key(ref)
    assert ours_at.keys() == ref_at.keys()
    for op in ops:
        o, r = ours.column(f"v_{op}").to_pylist(), ref.column(f"v_{op}").to_pylist()
        for key, i in ours_at.items():
            assert approx_equal(o[i], r[ref_at[key]]), (op, key, o[i], r[ref_at[key]])


ALL_OPS = list(kernel.AGGREGATIONS)


@given(data=groupby_inputs())
def test_groupby_matches_duckdb(data) -> None:
    t, keys, vkind = data
    ops = [op for op in ALL_OPS if not (vkind == "bool" and op in ("min", "max"))]
    ours = kernel.groupby(t, keys, {"v": ops})
    check(ours, t, keys, ops, vkind)


@given(data=groupby_inputs(), splits=st.integers(1, 4))
def test_partial_then_combine_equals_one_phase(data, splits: int) -> None:
    t, keys, vkind = data
    ops = ALL_OPS
    step = max(1, -(-t.num_rows // splits))
    partials = [kernel.groupby_partial(t.slice(i, step), keys, {"v": ops}) for i in range(0, max(t.num_rows, 1), step)]
    combined = kernel.groupby_combine(partials, keys, {"v": ops})
    direct = kernel.groupby(t, keys, {"v": ops})
    assert combined.num_rows == direct.num_rows
    assert sorted(combined.column_names) == sorted(direct.column_names)
    key_cols = [direct.column(k).to_pylist() for k in keys]
    at = {tuple(canon(c[i]) for c in key_cols): i for i in range(direct.num_rows)}
    comb_keys = [combined.column(k).to_pylist() for k in keys]
    for j in range(combined.num_rows):
        i = at[tuple(canon(c[j]) for c in comb_keys)]
        for op in ops:
            assert approx_equal(combined.column(f"v_{op}")[j].as_py(), direct.column(f"v_{op}")[i].as_py()), op


def test_string_min_max_first_last_and_null_group() -> None:
    t = pa.table({"g": ["a", None, "a", None, "b"], "s": ["pear", "fig", None, "apple", None]})
    out = kernel.groupby(t, "g", {"s": ["min", "max", "first", "last", "count", "nunique"]}).to_pylist()
    # group order is unspecified (as in SQL): short strings group by their packed codes, in key order
    assert sorted(out, key=lambda r: (r["g"] is None, r["g"] or "")) == [
        {"g": "a", "s_min": "pear", "s_max": "pear", "s_first": "pear", "s_last": None, "s_count": 1, "s_nunique": 1},
        {"g": "b", "s_min": None, "s_max": None, "s_first": None, "s_last": None, "s_count": 0, "s_nunique": 0},
        {"g": None, "s_min": "apple", "s_max": "fig", "s_first": "fig", "s_last": "apple", "s_count": 2, "s_nunique": 2},
    ]


def test_int_sum_overflow_is_reported_with_the_column() -> None:
    t = pa.table({"g": [1, 1], "v": pa.array([2**62, 2**62], pa.int64())})
    with pytest.raises(kernel.CylonKernelError, match="sum of column 'v' overflows int64"):
        kernel.groupby(t, "g", {"v": "sum"})


def test_groupby_errors_name_column_and_type() -> None:
    t = pa.table({"g": [1], "s": ["x"]})
    with pytest.raises(kernel.CylonKernelError, match="mean of column 's' needs a numeric column, found string"):
        kernel.groupby(t, "g", {"s": "mean"})
    with pytest.raises(kernel.CylonKernelError, match="unknown aggregation 'median'"):
        kernel.groupby(t, "g", {"s": "median"})
    with pytest.raises(kernel.CylonKernelError, match="no column 'zz' to aggregate"):
        kernel.groupby(t, "g", {"zz": "sum"})


@pytest.mark.parametrize("kind", KEY_TYPES)
def test_every_key_type_groups(kind: str) -> None:
    from .tables import VALUES

    vals = VALUES[kind] * 2 + [None]
    t = pa.table({"k": make_array(kind, vals), "v": pa.array(range(len(vals)), pa.int64())})
    out = kernel.groupby(t, "k", {"v": "count"})
    assert out.num_rows == duck("SELECT DISTINCT k FROM t", t=t).num_rows


@pytest.mark.parametrize("key_type", ["int64", "float64", "int16", "date32"])
def test_large_groupby_takes_the_partitioned_path_correctly(key_type: str) -> None:
    """Over 64K rows a single fixed-width key is grouped by radix partitions; compare with DuckDB."""
    import numpy as np

    rng = np.random.default_rng(9)
    n = 80_000
    keys = pa.array(rng.integers(0, 30_000, n), mask=rng.random(n) < 0.03)
    keys = keys.cast(pa.int32()).view(pa.date32()) if key_type == "date32" else keys.cast(key_type)
    vals = pa.array(rng.random(n), mask=rng.random(n) < 0.1)
    t = pa.table({"k": keys, "v": vals, "rid": pa.array(np.arange(n))})
    ops = ["sum", "count", "min", "max", "mean", "std", "nunique", "first", "last"]
    ours = kernel.groupby(t, "k", {"v": ops})
    check(ours, t, ["k"], ops, "float64")


@pytest.mark.parametrize("text", [pa.string(), pa.string_view(), pa.large_binary()])
def test_short_string_keys_group_as_duckdb_does(text: pa.DataType) -> None:
    """Keys of at most 7 bytes group by packed integer codes (native/src/group_ids.cpp): "a" and
    "a\\0" differ, nulls form one group, a second key packs with the first."""
    import random

    import duckdb

    rng = random.Random(11)
    pool = ["", "\0", "a", "a\0", "A", "N", "R", "seven b", "ünï", None]
    n = 200_000
    vals = [rng.choice(pool) for _ in range(n)]
    if pa.types.is_large_binary(text):
        vals = [None if v is None else v.encode() for v in vals]
    t = pa.table({"k": pa.array(vals, text), "f": pa.array([rng.choice("FO") for _ in range(n)]),
                  "v": pa.array([rng.randrange(100) for _ in range(n)], pa.int64())})
    got = kernel.groupby(t, ["k", "f"], {"v": ["sum", "count"]})
    plain = t.cast(pa.schema([("k", pa.large_binary()), ("f", pa.string()), ("v", pa.int64())]))
    want = duckdb.sql("SELECT k, f, sum(v) AS v_sum, count(v) AS v_count FROM plain GROUP BY k, f").fetchall()
    rows = got.cast(pa.schema([("k", pa.large_binary()), ("f", pa.string()), ("v_sum", pa.int64()),
                               ("v_count", pa.int64())])).to_pylist()
    key = lambda r: (r[0] is None, r[0] or b"", r[1])  # noqa: E731
    assert sorted(((r["k"], r["f"], r["v_sum"], r["v_count"]) for r in rows), key=key) == sorted(
        (tuple(r) for r in want), key=key)


@pytest.mark.parametrize("types", [(pa.int64(), pa.int64()), (pa.int32(), pa.timestamp("us")), (pa.int64(), pa.float64())])
def test_wide_keys_of_few_values_each_group_as_duckdb_does(types: tuple[pa.DataType, pa.DataType]) -> None:
    """Two key columns with wide ranges but ~100 values each and ~10k combinations: dense
    per-column codes, then the direct index (native/src/group_ids.cpp)."""
    import random

    import duckdb

    rng = random.Random(5)
    n = 200_000
    pools = [[rng.randrange(-(2**31), 2**31) * (2**20 if t == pa.int64() else 1) for _ in range(100)] for t in types]
    cols = [pa.array([rng.choice(pool) for _ in range(n)], pa.int64()).cast(t) if t != pa.float64()
            else pa.array([float(rng.choice(pool)) / 7 for _ in range(n)]) for pool, t in zip(pools, types)]
    t = pa.table({"a": cols[0], "b": cols[1], "v": pa.array([rng.randrange(1000) for _ in range(n)], pa.int64())})
    got = kernel.groupby(t, ["a", "b"], {"v": ["sum", "count", "min"]}).to_pylist()
    want = duckdb.sql("SELECT a, b, sum(v), count(v), min(v) FROM t GROUP BY a, b").fetchall()
    assert len(want) > 4096  # past the few-groups tables
    assert sorted((r["a"], r["b"], r["v_sum"], r["v_count"], r["v_min"]) for r in got) == sorted(want)
