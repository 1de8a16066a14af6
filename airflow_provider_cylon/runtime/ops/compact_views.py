"""View columns rewritten compactly before they are sent to another rank.

A string_view / binary_view array gathered from another (a partition, a filter, a top-N:
the kernel copies the 16-byte views and shares the character buffers, which is what makes
those gathers cheap) still references every byte of its source's buffers, and Arrow IPC
sends variadic buffers whole. Measured: hash-partitioning 100k 41-byte strings four ways
made four parts of 4.9 MB each from a 6.1 MB table (every rank got nearly all the text),
and TPC-H Q10's top 20 rows sent 9.7 MB. A part whose buffers are mostly bytes it does
not use is rewritten before it leaves (its long values copied once into a fresh buffer,
as IPC would copy them anyway); the others go as they are.
"""
from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from airflow_provider_cylon.kernel._native import is_view

#: Rewrite a view column when its buffers exceed twice the bytes it uses by more than this.
SLACK_BYTES = 1 << 16
#: Values of at most this many bytes live inside the view itself (Arrow's view layout).
INLINE_BYTES = 12


def _used_bytes(chunk: pa.Array) -> int:
    """Bytes of the character buffers that ``chunk``'s valid out-of-line values reference."""
    if len(chunk) == 0:
        return 0
    words = pa.Array.from_buffers(pa.int32(), 4 * (len(chunk) + chunk.offset), [None, chunk.buffers()[1]])
    views = pa.FixedSizeListArray.from_arrays(words, 4).slice(chunk.offset, len(chunk))
    lengths = pc.list_element(views, 0)  # the first 4 bytes of a view: the value's length
    out_of_line = pc.and_(pc.greater(lengths, INLINE_BYTES), chunk.is_valid())
    return int(pc.sum(pc.if_else(out_of_line, lengths, 0)).as_py() or 0)


def _wasteful(column: pa.ChunkedArray) -> bool:
    held = sum(b.size for chunk in column.chunks for b in chunk.buffers()[2:] if b is not None)
    return held > SLACK_BYTES and held > 2 * sum(_used_bytes(chunk) for chunk in column.chunks) + SLACK_BYTES


def compact_views(table: pa.Table) -> pa.Table:
    """``table`` with each view column that holds mostly unused character bytes rewritten compactly.

    :param table: a part about to be sent.
    """
    if not any(is_view(t) for t in table.schema.types):
        return table
    columns, changed = [], False
    for field, column in zip(table.schema, table.columns):
        if is_view(field.type) and _wasteful(column):
            plain = pa.large_string() if pa.types.is_string_view(field.type) else pa.large_binary()
            column = column.cast(plain).cast(field.type)  # the large type copies only the values used
            changed = True
        columns.append(column)
    return pa.Table.from_arrays(columns, schema=table.schema) if changed else table
