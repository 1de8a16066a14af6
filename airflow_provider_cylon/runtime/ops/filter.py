"""filter: the rows whose predicate is TRUE (SQL ``WHERE``: NULL and FALSE are dropped). No exchange."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import pyarrow as pa

from airflow_provider_cylon.runtime.ops.base import Columns, Step
from airflow_provider_cylon.runtime.ops.dist import Dist, OperationError
from airflow_provider_cylon.runtime.ops.expression_params import expression


@dataclass(frozen=True, kw_only=True)
class FilterStep(Step):
    """Keep rows.

    :param where: the predicate (a compiled expression tree).
    """

    op: ClassVar[str] = "filter"

    where: Any = None

    @classmethod
    def parse(cls, data: Mapping[str, Any], where: str) -> dict[str, Any]:
        return {"where": expression(data.get("where"), f"{where}.where")}

    def params_dict(self) -> dict[str, Any]:
        return {"where": self.where.to_json()}

    def output_schema(self, schemas: Sequence[pa.Schema]) -> pa.Schema:
        kind = self.where.output_type(schemas[0])
        if not (pa.types.is_boolean(kind) or pa.types.is_null(kind)):
            raise OperationError(f"{self.what}: the predicate {self.where.sql!r} is {kind}, not a boolean")
        return schemas[0]

    def required_columns(self, needed: frozenset[str], schemas: Sequence[pa.Schema]) -> list[Columns]:
        return [needed | self.where.columns()]

    def run(self, d: Dist, tables: list[pa.Table]) -> pa.Table:
        return self.where.filter(tables.pop(0))
