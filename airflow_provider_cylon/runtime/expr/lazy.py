"""Short-circuit evaluation of CASE, COALESCE, AND and OR, row by row as DuckDB does it.

DuckDB evaluates a CASE branch only on the rows that reach it (and COALESCE's
later arguments only where the earlier ones are NULL, AND's right side only where
the left is not FALSE, OR's where it is not TRUE). So ``CASE WHEN d <> 0 THEN
n // d END`` never divides by zero there. The evaluator computes whole columns
first (fast) and, only when that raised, falls back to this module: each branch
is evaluated on the sub-table of the rows that reach it, and the pieces are put
back in row order with one ``take``.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc

from airflow_provider_cylon.runtime.expr.errors import ExpressionError
from airflow_provider_cylon.runtime.expr.tree import Call, Case, Node

if TYPE_CHECKING:
    from airflow_provider_cylon.runtime.expr.evaluate import Evaluator

# A "mask" below is a boolean pa.Array without nulls, one entry per row of the evaluator's table.


def _array(v: pa.Array | pa.ChunkedArray, t: pa.DataType) -> pa.Array:
    arr = v.combine_chunks() if isinstance(v, pa.ChunkedArray) else v
    return arr if arr.type == t else arr.cast(t)


def _filled(n: int, value: pa.Scalar) -> pa.Array:
    """``value`` repeated ``n`` times (vectorised, not through a Python list)."""
    return pc.fill_null(pa.nulls(n, value.type), value)


def scatter(pieces: list[tuple[pa.Array, pa.Array]], n: int, t: pa.DataType) -> pa.Array:
    """Rows in order from disjoint pieces (mask, values of the masked rows); rows in no piece are NULL."""
    values = pa.concat_arrays([_array(v, t) for _, v in pieces] + [pa.nulls(1, t)])
    index = _filled(n, pa.scalar(len(values) - 1, pa.int64()))
    offset = 0
    for mask, v in pieces:
        position = pc.add(pc.subtract(pc.cumulative_sum(mask.cast(pa.int64())), 1), offset)
        index = pc.if_else(mask, position, index)
        offset += len(v)
    return values.take(index)


class LazyEvaluator:
    """The short-circuit forms, on top of an :class:`Evaluator` (whose table and types it shares)."""

    def __init__(self, evaluator: Evaluator) -> None:
        self.ev = evaluator
        self.n = evaluator.n

    def on_rows(self, node: Node, mask: pa.Array, t: pa.DataType) -> pa.Array:
        """``node`` evaluated on the masked rows only, as type ``t``."""
        from airflow_provider_cylon.runtime.expr.evaluate import Evaluator, convert
        from airflow_provider_cylon.runtime.expr.expression import filter_table

        sub = Evaluator(filter_table(self.ev.table, mask))
        value = sub.result(node)
        return _array(convert(value, value.type, t), t)

    def everywhere(self) -> pa.Array:
        return _filled(self.n, pa.scalar(True))  # every row reaches the first branch

    def value(self, node: Node) -> pa.Array:
        t = self.ev.typer.type_of(node)
        if isinstance(node, Case):
            return self._case(node, t)
        assert isinstance(node, Call)
        if node.fn == "coalesce":
            return self._coalesce(node, t)
        return self._logic(node)

    def _case(self, node: Case, t: pa.DataType) -> pa.Array:
        remaining = self.everywhere()
        pieces = []
        for cond, then in node.whens:
            c = scatter([(remaining, self.on_rows(cond, remaining, pa.bool_()))], self.n, pa.bool_())
            taken = pc.fill_null(c, False)
            pieces.append((taken, self.on_rows(then, taken, t)))
            remaining = pc.and_(remaining, pc.invert(taken))
        if node.else_ is not None:
            pieces.append((remaining, self.on_rows(node.else_, remaining, t)))
        return scatter(pieces, self.n, t)

    def _coalesce(self, node: Call, t: pa.DataType) -> pa.Array:
        remaining = self.everywhere()
        pieces = []
        for arg in node.args:
            v = self.on_rows(arg, remaining, t)
            full = scatter([(remaining, v)], self.n, t)
            have = pc.and_(remaining, pc.is_valid(full))
            pieces.append((have, v.filter(pc.is_valid(v))))
            remaining = pc.and_(remaining, pc.invert(have))
        return scatter(pieces, self.n, t)

    def _logic(self, node: Call) -> pa.Array:
        """AND / OR left to right; if that fails, right to left (DuckDB may reorder the operands)."""
        try:
            return self._logic_in_order(node)
        except ExpressionError:
            if len(node.args) < 2:
                raise
            try:
                return self._logic_in_order(Call(node.fn, tuple(reversed(node.args))))
            except ExpressionError:
                pass
            raise

    def _logic_in_order(self, node: Call) -> pa.Array:
        is_and = node.fn == "and"
        kernel: Callable[..., pa.Array] = pc.and_kleene if is_and else pc.or_kleene
        result = self.on_rows(node.args[0], self.everywhere(), pa.bool_())
        for arg in node.args[1:]:
            # AND needs the right side where the left is not FALSE; OR where it is not TRUE
            open_rows = pc.fill_null(result, True) if is_and else pc.invert(pc.fill_null(result, False))
            right = scatter([(open_rows, self.on_rows(arg, open_rows, pa.bool_()))], self.n, pa.bool_())
            result = pc.if_else(open_rows, kernel(result, right), pa.scalar(not is_and, pa.bool_()))
        return result
