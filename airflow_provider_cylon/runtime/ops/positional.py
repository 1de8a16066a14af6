"""Positions in the distributed table (rank order, then local order) from one all_gather of row counts."""
from __future__ import annotations

import pyarrow as pa

from airflow_provider_cylon.runtime.ops.dist import Dist, allgather_json


def global_offsets(d: Dist, table: pa.Table) -> tuple[int, int]:
    """(first global row of this rank's share, total rows)."""
    counts = [int(c) for c in allgather_json(d, table.num_rows)]  # type: ignore[call-overload]
    return sum(counts[: d.rank]), sum(counts)


def slice_rows(d: Dist, table: pa.Table, offset: int, length: int | None) -> pa.Table:
    """Rows ``[offset, offset + length)`` of the distributed table.

    :param d: this rank's handle.
    :param table: this rank's share.
    :param offset: first global row.
    :param length: number of rows (``None`` = to the end).
    """
    start, total = global_offsets(d, table)
    end = total if length is None else min(total, offset + length)
    lo = max(offset, start) - start
    hi = min(end, start + table.num_rows) - start
    return table.slice(lo, max(0, hi - lo)) if hi > lo else table.slice(0, 0)
