"""Set operations and unique against DuckDB: whole rows, nulls equal, NaN equal."""
from __future__ import annotations

import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from airflow_provider_cylon import kernel

from .tables import KEY_TYPES, duck, rows, tables


@st.composite
def two_tables(draw: st.DrawFn) -> tuple[pa.Table, pa.Table]:
    kinds = [draw(st.sampled_from(KEY_TYPES)) for _ in range(draw(st.integers(1, 3)))]
    return draw(tables(kinds)), draw(tables(kinds))


@given(pair=two_tables())
def test_unique_matches_select_distinct(pair: tuple[pa.Table, pa.Table]) -> None:
    a, _ = pair
    assert rows(kernel.unique(a)) == rows(duck("SELECT DISTINCT * FROM a", a=a))


@given(pair=two_tables())
def test_unique_subset_keeps_first_row_per_key(pair: tuple[pa.Table, pa.Table]) -> None:
    a, _ = pair
    a = a.append_column("rid", pa.array(range(a.num_rows), pa.int64()))
    ours = kernel.unique(a, subset=["k0"])
    ref = duck("SELECT k0, min(rid) AS rid FROM a GROUP BY k0", a=a)
    assert rows(ours, ["k0", "rid"]) == rows(ref, ["k0", "rid"])


@pytest.mark.parametrize(
    "op, sql",
    [
        ("union", "SELECT * FROM a UNION SELECT * FROM b"),
        ("union_all", "SELECT * FROM a UNION ALL SELECT * FROM b"),
        ("intersect", "SELECT * FROM a INTERSECT SELECT * FROM b"),
        ("difference", "SELECT * FROM a EXCEPT SELECT * FROM b"),
    ],
)
@given(pair=two_tables())
def test_set_operations_match_duckdb(op: str, sql: str, pair: tuple[pa.Table, pa.Table]) -> None:
    a, b = pair
    if op == "union_all":
        ours = kernel.union(a, b, distinct=False)
    else:
        ours = getattr(kernel, op)(a, b)
    assert rows(ours) == rows(duck(sql, a=a, b=b))


def test_nan_and_negative_zero_are_one_value() -> None:
    t = pa.table({"f": [float("nan"), float("nan"), 0.0, -0.0, None, None]})
    assert kernel.unique(t).num_rows == 3


def test_union_aligns_column_order_and_casts() -> None:
    a = pa.table({"x": pa.array([1, 2], pa.int64()), "y": ["a", "b"]})
    b = pa.table({"y": ["b", "c"], "x": pa.array([2, 3], pa.int32())})
    assert rows(kernel.union(a, b)) == rows(pa.table({"x": [1, 2, 3], "y": ["a", "b", "c"]}))


def test_mismatched_columns_are_named() -> None:
    with pytest.raises(kernel.CylonKernelError, match="same columns"):
        kernel.intersect(pa.table({"x": [1]}), pa.table({"z": [1]}))
