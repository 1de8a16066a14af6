"""sort: a distributed, stable sort (nulls last), or a distributed top-N with ``limit``.

Full sort: local sort, weighted sample splitters gathered from every rank, global
splitters chosen on every rank alike, ``range_partition``, exchange, ``merge_sorted``.
A hidden (rank, row) tiebreaker makes every sort key unique, so equal keys are split
across ranks (no skew hot spot) and the sort is stable. Rank r's result precedes
rank r+1's.

Top-N (``limit``): each rank keeps its local top N and rank 0 merges the runs in rank
order (stable), keeping N: one small exchange instead of a full shuffle.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import pyarrow as pa
import pyarrow.compute as pc

from airflow_provider_cylon import kernel
from airflow_provider_cylon.runtime import fields as f
from airflow_provider_cylon.runtime.ops.base import Columns, Step
from airflow_provider_cylon.runtime.ops.dist import Dist, allgather_table, concat, exchange, gather_to_root, require_columns

RANK_COL = "__cylon_rank"
ROW_COL = "__cylon_row"
WEIGHT_COL = "__cylon_weight"
#: Samples each rank contributes per output partition when choosing sort splitters.
SAMPLES_PER_PARTITION = 16


def choose_splitters(samples: pa.Table, keys: Sequence[str], ascending: Sequence[bool], parts: int) -> pa.Table:
    """Pick ``parts - 1`` splitters from weighted samples (same result on every rank).

    :param samples: concatenated samples of every rank with a weight column.
    :param keys: full sort keys (tiebreakers included).
    :param ascending: direction per key.
    :param parts: number of output partitions.
    """
    if samples.num_rows == 0 or parts <= 1:
        return samples.select(list(keys)).slice(0, 0)
    ordered = kernel.sort(samples, list(keys), ascending=list(ascending))
    # numpy is not a runtime dependency (the Lambda image is pyarrow only)
    cumulative = pc.cumulative_sum(ordered.column(WEIGHT_COL)).to_pylist()
    total = float(cumulative[-1])
    picks: list[int] = []
    j = 0
    for i in range(1, parts):
        target = total * i / parts
        while j < len(cumulative) - 1 and cumulative[j] < target:
            j += 1
        picks.append(j)
    return kernel.take(ordered.select(list(keys)), pa.array(picks, pa.int64()))


@dataclass(frozen=True, kw_only=True)
class SortStep(Step):
    """Order rows by ``by``.

    :param by: sort keys.
    :param ascending: direction per key.
    :param limit: keep only the first N rows of the order (a distributed top-N).
    """

    op: ClassVar[str] = "sort"

    by: tuple[str, ...] = ()
    ascending: tuple[bool, ...] = ()
    limit: int | None = None

    @classmethod
    def parse(cls, data: Mapping[str, Any], where: str) -> dict[str, Any]:
        by = f.names(data.get("by"), f"{where}.by") or ()
        ascending_raw = data.get("ascending", True)
        if isinstance(ascending_raw, (list, tuple)) and not ascending_raw:
            ascending_raw = True
        limit = data.get("limit")
        return {"by": by, "ascending": f.booleans(ascending_raw, f"{where}.ascending", len(by)),
                "limit": None if limit is None else f.integer(limit, f"{where}.limit", low=0)}

    def params_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"by": list(self.by), "ascending": list(self.ascending)}
        if self.limit is not None:
            out["limit"] = self.limit
        return out

    def check(self, where: str) -> None:
        if not self.by:
            raise f.fail(f"{where}.by", f"sort needs by (one or more columns) but found {list(self.by)!r}")
        if len(self.ascending) != len(self.by):
            raise f.fail(f"{where}.ascending", f"expected {len(self.by)} flags but found {len(self.ascending)}")

    def required_columns(self, needed: frozenset[str], schemas: Sequence[pa.Schema]) -> list[Columns]:
        return [needed | frozenset(self.by)]

    def run(self, d: Dist, tables: list[pa.Table]) -> pa.Table:
        table = tables[0]
        by, ascending = list(self.by), list(self.ascending)
        require_columns(table, by, self.what)
        if self.limit is not None:
            return self._top_n(d, table, by, ascending, self.limit)
        if d.world_size == 1:
            return kernel.sort(table, by, ascending=ascending)
        return self._sort(d, table, by, ascending)

    def _top_n(self, d: Dist, table: pa.Table, by: list[str], ascending: list[bool], n: int) -> pa.Table:
        # Only the first n rows are gathered (not the whole table sorted, then sliced): a slice
        # would still reference, and report as sent, every row's buffers (Q10's 19 MB for 20 rows).
        local = kernel.take(table, kernel.sort_indices(table, by, ascending).slice(0, n))
        runs = gather_to_root(d, local)
        if d.rank != 0:
            return local.slice(0, 0)
        runs = [r if r.schema.equals(local.schema) else r.cast(local.schema) for r in runs]
        return kernel.merge_sorted(runs, by, ascending).slice(0, n) if len(runs) > 1 else runs[0]

    def _sort(self, d: Dist, table: pa.Table, by: list[str], ascending: list[bool]) -> pa.Table:
        keys = [*by, RANK_COL, ROW_COL]
        directions = [*ascending, True, True]
        # Sorting by ``by`` stably is sorting by (by, rank, row): the permutation itself
        # is the row column, so no wider sort is needed.
        perm = kernel.sort_indices(table, by, ascending)
        local = kernel.take(table, perm)  # string_view columns too (Arrow has no take for views)
        n = local.num_rows
        local = local.append_column(RANK_COL, pa.repeat(pa.scalar(d.rank, pa.int32()), n))
        local = local.append_column(ROW_COL, perm.cast(pa.int64()))
        count = min(n, SAMPLES_PER_PARTITION * d.world_size)
        if count:
            sample = kernel.sample_splitters(local, keys, directions, count + 1).select(keys)
            weight = n / max(1, sample.num_rows)
            sample = sample.append_column(WEIGHT_COL, pa.repeat(pa.scalar(weight, pa.float64()), sample.num_rows))
        else:
            sample = local.select(keys).append_column(WEIGHT_COL, pa.array([], pa.float64()))
        gathered = concat(allgather_table(d, sample), sample.schema)
        splitters = choose_splitters(gathered, keys, directions, d.world_size)
        parts = list(kernel.range_partition(local, keys, splitters, directions))
        parts += [local.slice(0, 0)] * (d.world_size - len(parts))
        # The tiebreakers need not travel: runs arrive in source-rank order and each is
        # in (key, row) order, so a stable merge on the user's keys alone reproduces the
        # (key, rank, row) order.
        parts = [p.drop_columns([RANK_COL, ROW_COL]) for p in parts]
        received = exchange(d, parts)
        runs = [r if r.schema.equals(parts[0].schema) else r.cast(parts[0].schema) for r in received]
        return kernel.merge_sorted(runs, by, ascending)
