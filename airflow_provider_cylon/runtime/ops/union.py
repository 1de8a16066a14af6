"""union: SQL ``UNION`` (distinct, one exchange) or ``UNION ALL`` (no exchange)."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import pyarrow as pa

from airflow_provider_cylon.runtime import fields as f
from airflow_provider_cylon.runtime.ops.base import Columns
from airflow_provider_cylon.runtime.ops.dist import Dist, concat
from airflow_provider_cylon.runtime.ops.set_operation import SetOperationStep, distinct_rows


@dataclass(frozen=True, kw_only=True)
class UnionStep(SetOperationStep):
    """Rows of every input.

    :param distinct: drop duplicate rows (SQL ``UNION``; ``False`` is ``UNION ALL``).
    """

    op: ClassVar[str] = "union"

    distinct: bool = True

    @classmethod
    def parse(cls, data: Mapping[str, Any], where: str) -> dict[str, Any]:
        return {"distinct": f.boolean(data.get("distinct", True), f"{where}.distinct")}

    def params_dict(self) -> dict[str, Any]:
        return {"distinct": self.distinct}

    def required_columns(self, needed: frozenset[str], schemas: Sequence[pa.Schema]) -> list[Columns]:
        if self.distinct:  # whole rows decide what is a duplicate
            return [None for _ in schemas]
        # UNION ALL matches by position: keep the positions the output needs.
        positions = [i for i, name in enumerate(schemas[0].names) if name in needed]
        return [frozenset(s.names[i] for i in positions if i < len(s.names)) for s in schemas]

    def run(self, d: Dist, tables: list[pa.Table]) -> pa.Table:
        inputs = self.conformed(tables)
        if not self.distinct:
            return concat(inputs, inputs[0].schema)
        return distinct_rows(d, concat(inputs, inputs[0].schema))
