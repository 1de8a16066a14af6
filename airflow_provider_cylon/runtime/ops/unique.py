"""unique: distinct rows, or the first row of each distinct ``subset`` (nulls equal)."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import pyarrow as pa

from airflow_provider_cylon.runtime import fields as f
from airflow_provider_cylon.runtime.ops.base import Columns, Step
from airflow_provider_cylon.runtime.ops.dist import Dist, require_columns
from airflow_provider_cylon.runtime.ops.set_operation import distinct_rows


@dataclass(frozen=True, kw_only=True)
class UniqueStep(Step):
    """Distinct rows.

    :param subset: columns that define a duplicate (every column when ``None``).
    """

    op: ClassVar[str] = "unique"

    subset: tuple[str, ...] | None = None

    @classmethod
    def parse(cls, data: Mapping[str, Any], where: str) -> dict[str, Any]:
        return {"subset": f.names(data.get("subset"), f"{where}.subset")}

    def params_dict(self) -> dict[str, Any]:
        return {"subset": list(self.subset) if self.subset is not None else None}

    def required_columns(self, needed: frozenset[str], schemas: Sequence[pa.Schema]) -> list[Columns]:
        return [None] if self.subset is None else [needed | frozenset(self.subset)]

    def run(self, d: Dist, tables: list[pa.Table]) -> pa.Table:
        table = tables[0]
        if self.subset:
            require_columns(table, self.subset, f"{self.what} subset")
        return distinct_rows(d, table, self.subset)
