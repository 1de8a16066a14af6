"""View columns compacted before they leave a rank (runtime/ops/compact_views.py)."""
from __future__ import annotations

import pyarrow as pa
import pyarrow.ipc as ipc
import pytest

from airflow_provider_cylon import kernel
from airflow_provider_cylon.runtime.ops.compact_views import _used_bytes, compact_views


def _ipc_bytes(table: pa.Table) -> int:
    sink = pa.BufferOutputStream()
    with ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().size


@pytest.mark.parametrize("view", [pa.string_view(), pa.binary_view()])
def test_partitions_of_views_are_sent_with_their_own_bytes_only(view: pa.DataType) -> None:
    values = [None if i % 7 == 0 else ("x" * (i % 30) + str(i)) for i in range(60_000)]
    if pa.types.is_binary_view(view):
        values = [None if v is None else v.encode() for v in values]
    table = pa.table({"s": pa.array(values, view), "i": pa.array(range(60_000), pa.int64())})
    parts = kernel.hash_partition(table, ["i"], 4)
    for part in parts:
        compact = compact_views(part)
        assert compact.schema == part.schema
        assert compact.column("s").to_pylist() == part.column("s").to_pylist()
        assert _ipc_bytes(compact) < 0.6 * _ipc_bytes(part)  # each part held nearly all the text
        held = sum(b.size for c in compact.column("s").chunks for b in c.buffers()[2:] if b is not None)
        assert held <= sum(len(v) for v in part.column("s").to_pylist() if v is not None) + 64  # its own values


def test_compact_or_inline_columns_go_as_they_are() -> None:
    long = pa.table({"s": pa.array(["a value longer than twelve bytes"] * 50_000, pa.string_view())})
    assert compact_views(long) is long  # its buffers are all its own
    short = kernel.take(pa.table({"s": pa.array([f"k{i}" for i in range(50_000)], pa.string_view())}),
                        pa.array([1, 2], pa.int64()))
    assert compact_views(short) is short  # inline values: no character buffer to speak of
    plain = pa.table({"s": pa.array(["x" * 40] * 10)})
    assert compact_views(plain) is plain


def test_used_bytes_counts_valid_out_of_line_values_of_a_slice() -> None:
    arr = pa.array(["short", None, "a value past the inline part", "x" * 13, "y" * 12], pa.string_view())
    assert _used_bytes(arr) == len("a value past the inline part") + 13
    assert _used_bytes(arr.slice(3, 2)) == 13
    assert _used_bytes(arr.slice(0, 0)) == 0
