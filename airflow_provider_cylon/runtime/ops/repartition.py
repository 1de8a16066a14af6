"""repartition: even out row counts across ranks, keeping the global order."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import pyarrow as pa

from airflow_provider_cylon.runtime import fields as f
from airflow_provider_cylon.runtime.ops.base import Columns, Step
from airflow_provider_cylon.runtime.ops.dist import Dist, concat, exchange
from airflow_provider_cylon.runtime.ops.positional import global_offsets

MAX_PARTITIONS = 4096


@dataclass(frozen=True, kw_only=True)
class RepartitionStep(Step):
    """Rows spread evenly over the first ``partitions`` ranks.

    :param partitions: ranks that receive rows (all when ``None``); the others end empty.
    """

    op: ClassVar[str] = "repartition"

    partitions: int | None = None

    @classmethod
    def parse(cls, data: Mapping[str, Any], where: str) -> dict[str, Any]:
        p = data.get("partitions")
        return {"partitions": None if p is None else f.integer(p, f"{where}.partitions", low=1, high=MAX_PARTITIONS)}

    def params_dict(self) -> dict[str, Any]:
        return {"partitions": self.partitions}

    def required_columns(self, needed: frozenset[str], schemas: Sequence[pa.Schema]) -> list[Columns]:
        return [needed]

    def run(self, d: Dist, tables: list[pa.Table]) -> pa.Table:
        table = tables[0]
        if d.world_size == 1:
            return table
        p = min(self.partitions or d.world_size, d.world_size)
        start, total = global_offsets(d, table)
        parts = []
        for dst in range(d.world_size):
            if dst >= p or total == 0:
                parts.append(table.slice(0, 0))
                continue
            lo, hi = dst * total // p, (dst + 1) * total // p
            a, b = max(lo, start) - start, min(hi, start + table.num_rows) - start
            parts.append(table.slice(a, b - a) if b > a else table.slice(0, 0))
        return concat(exchange(d, parts), table.schema)
