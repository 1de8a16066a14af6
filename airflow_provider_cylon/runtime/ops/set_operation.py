"""What union, intersect and difference share: whole-row semantics, nulls equal, positional schemas.

Inputs match by position, as SQL set operations do: the result takes the first
input's names and types. Distinct results shuffle whole rows by hash so equal rows
meet on one rank.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import pyarrow as pa

from airflow_provider_cylon import kernel
from airflow_provider_cylon.runtime.ops.base import Step
from airflow_provider_cylon.runtime.ops.dist import Dist, OperationError, shuffle


def conform_set_input(first: pa.Table, other: pa.Table, what: str, index: int) -> pa.Table:
    """``other`` with the names and types of ``first`` (positional match)."""
    if other.num_columns != first.num_columns:
        raise OperationError(f"{what}: input {index} has {other.num_columns} columns {other.column_names} but "
                             f"input 0 has {first.num_columns} {first.column_names}")
    if other.column_names != first.column_names:
        other = other.rename_columns(first.column_names)
    if not other.schema.equals(first.schema):
        try:
            other = other.cast(first.schema)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as err:
            raise OperationError(f"{what}: input {index} schema {other.schema} does not match input 0 "
                                 f"{first.schema}: {err}") from err
    return other


@dataclass(frozen=True, kw_only=True)
class SetOperationStep(Step):
    """Base of the set operations over two or more inputs."""

    arity: ClassVar[tuple[int, int | None]] = (2, None)

    def conformed(self, tables: Sequence[pa.Table]) -> list[pa.Table]:
        first = tables[0]
        return [first] + [conform_set_input(first, t, self.what, i + 1) for i, t in enumerate(tables[1:])]

    def combine(self, result: pa.Table, other: pa.Table) -> pa.Table:
        """Fold one more shuffled input into the running result (intersect, difference)."""
        raise NotImplementedError

    def run(self, d: Dist, tables: list[pa.Table]) -> pa.Table:
        inputs = self.conformed(tables)
        keys = inputs[0].column_names
        shuffled = [shuffle(d, t, keys) for t in inputs]
        result = shuffled[0]
        for other in shuffled[1:]:
            result = self.combine(result, other)
        return result


def distinct_rows(d: Dist, table: pa.Table, keys: Sequence[str] | None = None) -> pa.Table:
    """Distinct rows (or distinct on ``keys``) of the distributed table."""
    return kernel.unique(shuffle(d, table, list(keys or table.column_names)), subset=list(keys) if keys else None)
