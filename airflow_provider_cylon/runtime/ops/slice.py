"""slice: rows ``[offset, offset + n)`` of the distributed table (rank order, then local order)."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import pyarrow as pa

from airflow_provider_cylon.runtime import fields as f
from airflow_provider_cylon.runtime.ops.base import Columns, Step
from airflow_provider_cylon.runtime.ops.dist import Dist
from airflow_provider_cylon.runtime.ops.positional import slice_rows


@dataclass(frozen=True, kw_only=True)
class SliceStep(Step):
    """A window of rows.

    :param n: number of rows.
    :param offset: first global row.
    """

    op: ClassVar[str] = "slice"

    n: int = 0
    offset: int = 0

    @classmethod
    def parse(cls, data: Mapping[str, Any], where: str) -> dict[str, Any]:
        if data.get("n") is None:
            raise f.fail(f"{where}.n", "slice needs n (number of rows)")
        return {"n": f.integer(data["n"], f"{where}.n", low=0),
                "offset": f.integer(data.get("offset", 0), f"{where}.offset", low=0)}

    def params_dict(self) -> dict[str, Any]:
        return {"n": self.n, "offset": self.offset}

    def required_columns(self, needed: frozenset[str], schemas: Sequence[pa.Schema]) -> list[Columns]:
        return [needed]

    def run(self, d: Dist, tables: list[pa.Table]) -> pa.Table:
        return slice_rows(d, tables[0], self.offset, self.n)
