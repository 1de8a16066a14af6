"""project: keep, rename, compute and reorder columns (SQL ``SELECT`` list). No exchange.

``columns`` is a list of names (keep those, in that order) or a mapping
``{output name: expression}`` where a bare column reference renames or keeps.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import pyarrow as pa

from airflow_provider_cylon.runtime import fields as f
from airflow_provider_cylon.runtime.expr.evaluate import Evaluator
from airflow_provider_cylon.runtime.ops.base import Columns, Step
from airflow_provider_cylon.runtime.ops.dist import Dist, OperationError, require_columns
from airflow_provider_cylon.runtime.ops.expression_params import named_expressions, pairs_to_json


def evaluate_into(table: pa.Table, source: pa.Table, items: Sequence[tuple[str, Any]], what: str) -> pa.Table:
    """``table`` with each (name, expression over ``source``) set: replaced in place or appended."""
    shared = Evaluator(source)  # one for every expression: their common subexpressions computed once
    for name, expr in items:
        try:
            values = expr.evaluate(source, shared)
        except Exception as err:
            raise OperationError(f"{what}: cannot evaluate {name!r} = {expr.sql!r}: {err}") from err
        if name in table.column_names:
            table = table.set_column(table.column_names.index(name), name, values)
        else:
            table = table.append_column(name, values)
    return table


@dataclass(frozen=True, kw_only=True)
class ProjectStep(Step):
    """Choose the output columns.

    :param columns: names to keep in order, or ``{name: expression}`` pairs in order.
    """

    op: ClassVar[str] = "project"

    names: tuple[str, ...] | None = None
    exprs: tuple[tuple[str, Any], ...] | None = None

    @classmethod
    def parameters(cls) -> tuple[str, ...]:
        return ("columns",)

    @classmethod
    def parse(cls, data: Mapping[str, Any], where: str) -> dict[str, Any]:
        cols = data.get("columns")
        if isinstance(cols, Mapping) or (isinstance(cols, (list, tuple)) and cols
                                         and all(isinstance(c, (list, tuple)) for c in cols)):
            return {"exprs": named_expressions(cols, f"{where}.columns")}
        return {"names": f.names(cols, f"{where}.columns", allow_none=False)}

    def params_dict(self) -> dict[str, Any]:
        if self.exprs is not None:
            return {"columns": pairs_to_json((name, e.to_json()) for name, e in self.exprs)}
        return {"columns": list(self.names or ())}

    def output_schema(self, schemas: Sequence[pa.Schema]) -> pa.Schema:
        if self.exprs is None:
            require_columns(schemas[0], self.names or (), self.what)
            return pa.schema([schemas[0].field(n) for n in self.names or ()])
        return pa.schema([pa.field(name, e.output_type(schemas[0])) for name, e in self.exprs])

    def required_columns(self, needed: frozenset[str], schemas: Sequence[pa.Schema]) -> list[Columns]:
        if self.exprs is None:
            return [frozenset(self.names or ())]
        cols: set[str] = set()
        for name, e in self.exprs:
            cols |= set(e.columns())
        return [frozenset(cols)]

    def run(self, d: Dist, tables: list[pa.Table]) -> pa.Table:
        table = tables.pop(0)
        if self.exprs is None:
            require_columns(table, self.names or (), self.what)
            return table.select(list(self.names or ()))
        return evaluate_into(table.select([]).append_column("__cylon_rows", pa.nulls(table.num_rows)),
                             table, self.exprs, self.what).drop_columns(["__cylon_rows"])
