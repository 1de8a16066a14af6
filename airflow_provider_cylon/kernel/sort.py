"""Sorting, merging sorted runs, and the splitters of a distributed sample sort.

Order: nulls last in both directions; NaN above every other float; strings by
UTF-8 bytes; stable for equal keys.
"""
from __future__ import annotations

import random
from collections.abc import Sequence

import pyarrow as pa

from airflow_provider_cylon.kernel import _ext
from airflow_provider_cylon.kernel._native import (
    CylonKernelError,
    as_list,
    capsules,
    contiguous,
    imported,
    key_array,
    key_capsules,
    one_capsule,
    require_columns,
    slices,
    take,
)

SPLITTER_SAMPLE_SEED = 0x5EED


def directions(by: list[str], ascending: bool | Sequence[bool]) -> list[bool]:
    """One direction per key column."""
    if isinstance(ascending, bool):
        return [ascending] * len(by)
    dirs = list(ascending)
    if len(dirs) != len(by) or not all(isinstance(d, bool) for d in dirs):
        raise CylonKernelError(
            f"sort: ascending must be a bool or one bool per key column ({len(by)}), found {ascending!r}"
        )
    return dirs


def _keys(by: str | Sequence[str]) -> list[str]:
    names = as_list(by, what="by")
    if not names:
        raise CylonKernelError("sort: at least one key column is required in by")
    return names


def sort_indices(table: pa.Table, by: str | Sequence[str], ascending: bool | Sequence[bool] = True) -> pa.Int64Array:
    """The stable permutation that sorts ``table`` by ``by``."""
    names = _keys(by)
    dirs = directions(names, ascending)
    return imported(_ext.argsort(key_capsules(table, names, input_name="table"), dirs))


def sort(table: pa.Table, by: str | Sequence[str], ascending: bool | Sequence[bool] = True) -> pa.Table:
    """Rows of ``table`` ordered by ``by`` (stable; nulls last).

    :param table: input table.
    :param by: key column name(s), most significant first.
    :param ascending: a bool, or one per key column.
    """
    names = _keys(by)
    if table.num_columns == 1 and names == table.column_names and _sortable_in_place(table.column(0)):
        # Sorting one integer-like column: the kernel sorts the values themselves,
        # moving 8-byte codes instead of (code, row) pairs and skipping the take.
        dirs = directions(names, ascending)
        arr = imported(_ext.sort_values(one_capsule(contiguous(table.column(0)), names[0]), dirs[0]))
        return pa.table([arr], schema=table.schema)
    return take(table, sort_indices(table, by, ascending))


def _sortable_in_place(column: pa.ChunkedArray) -> bool:
    t = column.type
    integer_like = pa.types.is_integer(t) or pa.types.is_temporal(t)
    return integer_like and column.null_count == 0 and not isinstance(t, pa.ExtensionType) and len(column) > 64


def merge_sorted(
    tables: Sequence[pa.Table], by: str | Sequence[str], ascending: bool | Sequence[bool] = True
) -> pa.Table:
    """Merge tables that are each sorted by ``by`` into one sorted table.

    Ties keep the order of ``tables``, then row order (stable).

    :param tables: sorted runs with the same schema.
    :param by: key column name(s).
    :param ascending: a bool, or one per key column.
    """
    runs = [t for t in tables]
    if not runs:
        raise CylonKernelError("merge_sorted: at least one table is required")
    names = _keys(by)
    dirs = directions(names, ascending)
    combined = pa.concat_tables(runs)
    offsets = [0]
    for t in runs:
        offsets.append(offsets[-1] + t.num_rows)
    perm = _ext.merge_sorted(key_capsules(combined, names, input_name="tables"), offsets, dirs)
    return take(combined, imported(perm))


def sample_splitters(
    table: pa.Table,
    by: str | Sequence[str],
    ascending: bool | Sequence[bool] = True,
    num_partitions: int = 2,
    sample_size: int = 1024,
) -> pa.Table:
    """``num_partitions - 1`` splitter rows (key columns only) from a sample of ``table``.

    The distributed sort samples each rank, gathers the samples, and calls this
    again on their concatenation (with ``sample_size`` at least its length) so
    every rank gets the same splitters. Sampling is seeded: same input, same
    splitters.

    :param table: input table (or the gathered samples).
    :param by: key column name(s).
    :param ascending: a bool, or one per key column.
    :param num_partitions: number of ranges wanted (>= 1).
    :param sample_size: rows sampled before picking evenly spaced splitters.
    """
    names = _keys(by)
    dirs = directions(names, ascending)
    require_columns(table, names, input_name="table")
    keys = table.select(names)
    if num_partitions < 1:
        raise CylonKernelError(f"sample_splitters: num_partitions must be >= 1, found {num_partitions}")
    n = keys.num_rows
    if num_partitions == 1 or n == 0:
        return keys.slice(0, 0)
    if n > sample_size:
        rows = sorted(random.Random(SPLITTER_SAMPLE_SEED).sample(range(n), sample_size))
        keys = take(keys, pa.array(rows, type=pa.int64()))
    ordered = sort(keys, names, dirs)
    m = ordered.num_rows
    picks = [min(m - 1, (i * m) // num_partitions) for i in range(1, num_partitions)]
    return take(ordered, pa.array(picks, type=pa.int64()))


def range_partition(
    table: pa.Table,
    by: str | Sequence[str],
    splitters: pa.Table,
    ascending: bool | Sequence[bool] = True,
) -> list[pa.Table]:
    """Split ``table`` into ``len(splitters) + 1`` key ranges.

    Partition p holds the rows with ``splitter[p-1] < key <= splitter[p]`` in
    sort order (nulls last, so null keys go to the last partition).

    :param table: input table.
    :param by: key column name(s).
    :param splitters: sorted splitter rows with the ``by`` columns.
    :param ascending: a bool, or one per key column.
    """
    names = _keys(by)
    dirs = directions(names, ascending)
    require_columns(splitters, names, input_name="splitters")
    key_caps = key_capsules(table, names, input_name="table")
    split_arrays = []
    for name in names:
        arr = key_array(splitters.column(name), input_name="splitters", column_name=name)
        target = key_array(table.column(name).slice(0, 0), input_name="table", column_name=name).type
        if arr.type != target:
            arr = arr.cast(target)
        split_arrays.append(arr)
    perm, offsets = _ext.range_partition(key_caps, capsules(split_arrays, names), dirs)
    if table.num_rows == 0:
        return [table] * (splitters.num_rows + 1)
    return slices(take(table, imported(perm)), offsets)
