"""Group-by paths that only large inputs take (direct indexing, packed codes, few-groups tables), against DuckDB."""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from airflow_provider_cylon import kernel

from .tables import duck
from .test_groupby import assert_same_groups

N = 300_000  # above the few-groups parallel aggregation threshold (2^18 rows)


def with_nulls(arr: pa.Array, rng: np.random.Generator, rate: float = 0.05) -> pa.Array:
    mask = pa.array(rng.random(len(arr)) < rate)
    return pa.compute.if_else(mask, pa.scalar(None, arr.type), arr)


def keys_of(kind: str, rng: np.random.Generator) -> dict[str, pa.Array]:
    if kind == "int64_pool":  # few groups, wide range: the per-thread tables
        return {"k": with_nulls(pa.array(rng.integers(-(2**62), 2**62, 40)[rng.integers(0, 40, N)]), rng)}
    if kind == "int64_mid":  # 20k groups, 15 rows each: per-thread min/max winners past the few-groups size
        return {"k": with_nulls(pa.array(rng.integers(-(2**62), 2**62, 20_000)[rng.integers(0, 20_000, N)]), rng)}
    if kind == "int64_many_inline":  # 4.5k groups, no nulls, 33+ rows a group a thread: per-thread tables past 4096 groups
        return {"k": pa.array(rng.integers(-(2**62), 2**62, 4500)[rng.integers(0, 4500, N)])}
    if kind == "int32_range":  # small range: direct indexing
        return {"k": with_nulls(pa.array(rng.integers(-500, 500, N).astype(np.int32)), rng)}
    if kind == "two_small":  # two columns packed into one direct index
        return {"k": pa.array(rng.integers(0, 30, N)), "k2": with_nulls(pa.array(rng.integers(-5, 5, N).astype(np.int8)), rng)}
    if kind == "two_packed":  # beyond direct slots, within 63 bits: one packed code
        return {"k": pa.array(rng.integers(0, 3, N)), "k2": pa.array(rng.integers(0, 2**40, N) // 2**22 * 2**22)}
    if kind == "two_wide_many":  # neither: the hash table
        return {"k": pa.array(rng.integers(-(2**62), 2**62, 5000)[rng.integers(0, 5000, N)]),
                "k2": pa.array(rng.integers(0, 2, N))}
    if kind == "two_wide_pairs":  # two wide columns, no nulls, ~100k groups: the partitioned pair table
        base = rng.integers(0, 100_000, N)
        return {"k": pa.array((base * 7919 % 100_003) * 92_233_720_368_547 - 2**62),
                "k2": pa.array(-(base % 977) * 9_444_732_965_739 + rng.integers(0, 2, N))}
    if kind == "string_few":
        pool = pa.array([f"country-{i}" + ("-long-name" * (i % 3)) for i in range(60)])
        return {"k": with_nulls(pool.take(pa.array(rng.integers(0, 60, N))).cast(pa.string()), rng).cast(pa.string_view())}
    if kind == "bool_and_date":
        return {"k": pa.array(rng.integers(0, 2, N).astype(bool)),
                "k2": with_nulls(pa.array(rng.integers(18000, 18100, N).astype(np.int32)).cast(pa.date32()), rng)}
    raise ValueError(kind)


KINDS = ["int64_pool", "int64_mid", "int64_many_inline", "int32_range", "two_small", "two_packed", "two_wide_many", "two_wide_pairs", "string_few",
         "bool_and_date"]
OPS = {"sum": "sum(v)", "count": "count(v)", "min": "min(v)", "max": "max(v)", "mean": "avg(v)",
       "nunique": "count(DISTINCT v)", "first": "first(v ORDER BY rid)", "any_value": "any_value(v ORDER BY rid)"}


@pytest.mark.parametrize("kind", KINDS)
def test_large_groupby_paths_match_duckdb(kind: str) -> None:
    rng = np.random.default_rng(sum(map(ord, kind)))
    cols = keys_of(kind, rng)
    cols["v"] = with_nulls(pa.array(rng.integers(-1000, 1000, N)), rng)
    f = rng.standard_normal(N)
    f[rng.random(N) < 0.01] = np.nan  # NaN is the largest float (min skips it, max is it)
    cols["f"] = with_nulls(pa.array(f), rng)
    cols["rid"] = pa.array(np.arange(N))
    t = pa.table(cols)
    keys = [c for c in cols if c.startswith("k")]
    ours = kernel.groupby(t, keys, {"v": list(OPS), "f": ["min", "max", "sum"]})
    ref = duck(f"SELECT {', '.join(keys)}, {', '.join(f'{sql} AS v_{op}' for op, sql in OPS.items())}, "
               f"min(f) AS f_min, max(f) AS f_max, sum(f) AS f_sum FROM t GROUP BY ALL", t=t)
    assert_same_groups(ours, ref, keys, list(OPS))
    floats = ["min", "max", "sum"]
    assert_same_groups(ours.select(keys + [f"f_{op}" for op in floats]).rename_columns(keys + [f"v_{op}" for op in floats]),
                       ref.select(keys + [f"f_{op}" for op in floats]).rename_columns(keys + [f"v_{op}" for op in floats]),
                       keys, floats)
    # DISTINCT through the same paths keeps first appearances in order.
    distinct = kernel.unique(t.select(keys))
    assert distinct.to_pylist() == duck(f"SELECT {', '.join(keys)} FROM (SELECT *, row_number() OVER () AS rn FROM t) "
                                        f"QUALIFY row_number() OVER (PARTITION BY {', '.join(keys)} ORDER BY rn) = 1 "
                                        f"ORDER BY rn", t=t.select(keys)).to_pylist()


@pytest.mark.parametrize("key", ["decimal_key", "global", "int32_range"])
def test_large_decimal_aggregates_are_exact(key: str) -> None:
    """Per-thread decimal sums and min/max (few groups, many rows), and decimal keys narrowed to int64."""
    import pathlib
    import sys

    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[3] / "benchmarks"))
    from kernel import decimal_array  # the benchmark's builder of decimal128 arrays

    rng = np.random.default_rng(11)
    cols = {"d": with_nulls(decimal_array(rng.integers(-(10**15), 10**15, N), 17, 2), rng)}
    if key == "decimal_key":
        cols["k"] = with_nulls(decimal_array(rng.integers(-50, 50, N) * 10**12, 15, 2), rng)
    elif key == "int32_range":
        cols["k"] = pa.array(rng.integers(0, 7, N).astype(np.int32))
    t = pa.table(cols)
    keys = ["k"] if "k" in cols else []
    ops = ["sum", "min", "max", "mean", "count", "nunique"]
    ours = kernel.groupby(t, keys, {"d": ops})
    sql = {"sum": "sum(d)", "min": "min(d)", "max": "max(d)", "mean": "avg(d)", "count": "count(d)",
           "nunique": "count(DISTINCT d)"}
    ref = duck(f"SELECT {''.join(k + ', ' for k in keys)}{', '.join(f'{sql[o]} AS d_{o}' for o in ops)} FROM t"
               + (" GROUP BY ALL" if keys else ""), t=t)
    names = keys + [f"v_{o}" for o in ops]
    assert ours.schema.field("d_sum").type == pa.decimal128(38, 2)
    mine, theirs = ours.rename_columns(names), ref.rename_columns(names)
    by = {tuple(r[k] for k in keys): r for r in theirs.to_pylist()}
    assert len(by) == mine.num_rows
    for row in mine.to_pylist():
        assert row == by[tuple(row[k] for k in keys)]  # exact: decimals and DuckDB's doubles
