"""Compare tables as multisets of rows (order-free, nulls and float noise handled)."""
from __future__ import annotations

import math
from collections import Counter
from typing import Any

import pyarrow as pa


def _norm(v: Any) -> Any:
    if isinstance(v, float):
        if math.isnan(v):
            return ("nan",)
        return float(f"{v:.9g}")
    if isinstance(v, list):
        return tuple(_norm(x) for x in v)
    return v


def rows(table: pa.Table, columns: list[str] | None = None) -> Counter:
    """Counter of normalised row tuples (columns by name, in the given order)."""
    cols = columns or table.column_names
    data = [table.column(c).to_pylist() for c in cols]
    return Counter(tuple(_norm(col[i]) for col in data) for i in range(table.num_rows))


def assert_same_rows(got: pa.Table, want: pa.Table, what: str = "") -> None:
    """Same column names (any order) and the same multiset of rows."""
    assert sorted(got.column_names) == sorted(want.column_names), (what, got.column_names, want.column_names)
    cols = sorted(want.column_names)
    a, b = rows(got, cols), rows(want, cols)
    if a != b:
        missing = list((b - a).items())[:5]
        extra = list((a - b).items())[:5]
        raise AssertionError(f"{what}: {got.num_rows} vs {want.num_rows} rows; missing {missing}; extra {extra}")
