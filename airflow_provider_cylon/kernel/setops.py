"""Set operations and DISTINCT: whole rows compared, nulls equal to each other.

As SQL's ``DISTINCT``, ``UNION``, ``INTERSECT`` and ``EXCEPT``: results are
sets (no duplicate rows) except ``union(distinct=False)`` (``UNION ALL``).
Floats compare by value with ``-0.0 == 0.0`` and ``NaN == NaN`` (as DuckDB).
Row order: first appearance in the inputs.
"""
from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa

from airflow_provider_cylon.kernel import _ext
from airflow_provider_cylon.kernel._native import (
    CylonKernelError,
    as_list,
    imported,
    key_capsules,
    take,
)


def unique(table: pa.Table, subset: str | Sequence[str] | None = None) -> pa.Table:
    """Rows of ``table`` with duplicates removed (the first occurrence is kept).

    :param table: input table.
    :param subset: columns that decide equality (default: all columns).
    """
    names = as_list(subset, what="subset") or list(table.column_names)
    if not names:
        return table.slice(0, min(table.num_rows, 1))
    _, first_caps, _ = _ext.group_ids(key_capsules(table, names, input_name="table"), True)
    return take(table, imported(first_caps))


def aligned(a: pa.Table, b: pa.Table, op: str) -> pa.Table:
    """``b`` with ``a``'s column order and types, or an error naming the column."""
    if a.schema.equals(b.schema):
        return b
    if sorted(a.column_names) != sorted(b.column_names) or len(a.column_names) != len(b.column_names):
        raise CylonKernelError(
            f"{op}: inputs must have the same columns; first has {a.column_names}, second has {b.column_names}"
        )
    b = b.select(a.column_names)
    columns = []
    for field in a.schema:
        col = b.column(field.name)
        if col.type != field.type:
            try:
                col = col.cast(field.type)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as err:
                raise CylonKernelError(
                    f"{op}: column {field.name!r} is {field.type} in the first input and {col.type} "
                    f"in the second; cannot cast: {err}"
                ) from err
        columns.append(col)
    return pa.table(columns, schema=a.schema)


def union(a: pa.Table, b: pa.Table, distinct: bool = True) -> pa.Table:
    """Rows of ``a`` and ``b`` (``UNION``; ``UNION ALL`` with ``distinct=False``).

    :param a: first table.
    :param b: second table, same column names (any order) and castable types.
    :param distinct: remove duplicate rows.
    """
    both = pa.concat_tables([a, aligned(a, b, "union")])
    return unique(both) if distinct else both


def _rows_in(a: pa.Table, b: pa.Table, op: str, keep_matches: bool) -> pa.Table:
    b = aligned(a, b, op)
    names = list(a.column_names)
    if not names:
        return a.slice(0, 0)
    distinct_a = unique(a)
    left_caps = key_capsules(distinct_a, names, input_name="first input")
    right_caps = key_capsules(b, names, input_name="second input")
    how = "semi" if keep_matches else "anti"
    lcaps, _ = _ext.hash_join(left_caps, right_caps, how, True)
    return distinct_a if lcaps is None else take(distinct_a, imported(lcaps))  # None: every row kept


def intersect(a: pa.Table, b: pa.Table) -> pa.Table:
    """Distinct rows of ``a`` that also appear in ``b`` (``INTERSECT``).

    :param a: first table.
    :param b: second table, same columns.
    """
    return _rows_in(a, b, "intersect", keep_matches=True)


def difference(a: pa.Table, b: pa.Table) -> pa.Table:
    """Distinct rows of ``a`` that do not appear in ``b`` (``EXCEPT``).

    :param a: first table.
    :param b: second table, same columns.
    """
    return _rows_in(a, b, "difference", keep_matches=False)
