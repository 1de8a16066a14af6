"""with_columns: add or replace computed columns, keep the rest (each over the input's columns). No exchange."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import pyarrow as pa

from airflow_provider_cylon.runtime.ops.base import Columns, Step
from airflow_provider_cylon.runtime.ops.dist import Dist
from airflow_provider_cylon.runtime.ops.expression_params import named_expressions, pairs_to_json
from airflow_provider_cylon.runtime.ops.project import evaluate_into


@dataclass(frozen=True, kw_only=True)
class WithColumnsStep(Step):
    """Add or replace columns.

    :param columns: ``{name: expression}`` pairs, each evaluated over the input (not over each other).
    """

    op: ClassVar[str] = "with_columns"

    columns: tuple[tuple[str, Any], ...] = ()

    @classmethod
    def parse(cls, data: Mapping[str, Any], where: str) -> dict[str, Any]:
        return {"columns": named_expressions(data.get("columns"), f"{where}.columns")}

    def params_dict(self) -> dict[str, Any]:
        return {"columns": pairs_to_json((name, e.to_json()) for name, e in self.columns)}

    def output_schema(self, schemas: Sequence[pa.Schema]) -> pa.Schema:
        schema = schemas[0]
        for name, e in self.columns:  # each over the input, as run evaluates them
            field = pa.field(name, e.output_type(schemas[0]))
            index = schema.get_field_index(name)
            schema = schema.set(index, field) if index >= 0 else schema.append(field)
        return schema

    def required_columns(self, needed: frozenset[str], schemas: Sequence[pa.Schema]) -> list[Columns]:
        # Every expression runs (each is over the input), so each one's columns are read.
        cols = set(needed - {name for name, _ in self.columns})
        for _, e in self.columns:
            cols |= set(e.columns())
        return [frozenset(cols)]

    def run(self, d: Dist, tables: list[pa.Table]) -> pa.Table:
        table = tables.pop(0)
        return evaluate_into(table, table, self.columns, self.what)
