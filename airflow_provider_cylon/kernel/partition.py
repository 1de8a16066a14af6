"""Hash partitioning and row hashing (identical in every process: fixed seed)."""
from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa

from airflow_provider_cylon.kernel import _ext
from airflow_provider_cylon.kernel._native import (
    CylonKernelError,
    as_list,
    capsules,
    contiguous,
    imported,
    key_capsules,
    slices,
    take,
)


def row_hash(table: pa.Table, keys: str | Sequence[str]) -> pa.UInt64Array:
    """64-bit hash of each row's key columns.

    The hash is a fixed function of the key values (seed ``ROW_HASH_SEED``,
    little-endian), so every worker, machine and run computes the same value;
    integers hash by value whatever their width, so int32 and int64 keys agree.

    :param table: input table.
    :param keys: key column name(s).
    """
    names = as_list(keys, what="keys")
    if not names:
        raise CylonKernelError("row_hash: at least one key column is required")
    return imported(_ext.row_hash(key_capsules(table, names, input_name="table")))


def hash_partition(table: pa.Table, keys: str | Sequence[str], num_partitions: int) -> list[pa.Table]:
    """Split ``table`` into ``num_partitions`` tables by key hash.

    Row r goes to partition ``(hi32(row_hash(r)) * num_partitions) >> 32``;
    rows keep their relative order inside a partition. One ``take`` with the
    partition permutation, then zero-copy slices.

    :param table: input table.
    :param keys: key column name(s).
    :param num_partitions: number of partitions (>= 1).
    """
    names = as_list(keys, what="keys")
    if not names:
        raise CylonKernelError("hash_partition: at least one key column is required")
    if not isinstance(num_partitions, int) or num_partitions < 1:
        raise CylonKernelError(f"hash_partition: num_partitions must be an int >= 1, found {num_partitions!r}")
    if table.num_rows and any(c.num_chunks > 1 for c in table.columns):
        # A table read from several row groups or received from several ranks: each
        # block goes through the kernel as it is and the partitions are stitched from
        # the blocks' slices (zero-copy, order kept), instead of first copying every
        # column into one buffer.
        blocks = [_partition_block(b, names, num_partitions) for b in _blocks(table)]
        return [pa.concat_tables([parts[p] for parts in blocks]) for p in range(num_partitions)]
    return _partition_block(table, names, num_partitions)


#: Consecutive small record batches are merged into blocks of at least this many rows.
_BLOCK_ROWS = 1 << 18


def _blocks(table: pa.Table) -> list[pa.Table]:
    """``table`` as consecutive single-chunk tables (small batches merged)."""
    out, group, rows = [], [], 0
    for batch in table.to_batches():
        group.append(batch)
        rows += batch.num_rows
        if rows >= _BLOCK_ROWS:
            out.append(pa.Table.from_batches(group, schema=table.schema).combine_chunks())
            group, rows = [], 0
    if group:
        out.append(pa.Table.from_batches(group, schema=table.schema).combine_chunks())
    return out


def _partition_block(table: pa.Table, names: list[str], num_partitions: int) -> list[pa.Table]:
    # Fixed-width, null-free columns are scattered by the kernel straight into
    # partition order; the rest (strings, nullable) are gathered with the permutation.
    scatter = [n for n in table.column_names if _scatterable(table.column(n))]
    rest = [n for n in table.column_names if n not in scatter]
    scatter_arrays = [contiguous(table.column(n)) for n in scatter]
    perm_caps, offsets, moved = _ext.hash_partition(
        key_capsules(table, names, input_name="table"), num_partitions, capsules(scatter_arrays, scatter), bool(rest)
    )
    if table.num_rows == 0:
        return [table] * num_partitions
    columns = dict(zip(scatter, (imported(c) for c in moved)))
    if rest:
        gathered = take(table.select(rest), imported(perm_caps))
        columns.update((n, gathered.column(n)) for n in rest)
    out = pa.table([columns[n] for n in table.column_names], schema=table.schema)
    return slices(out, offsets)


def _scatterable(column: pa.ChunkedArray) -> bool:
    t = column.type
    # Decimals too: the kernel moves 4/8/16/32-byte values whole.
    plain = (
        pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_temporal(t) or pa.types.is_decimal(t)
    ) and not isinstance(t, pa.ExtensionType)
    return plain and column.null_count == 0 and not pa.types.is_float16(t) and t.bit_width >= 8
