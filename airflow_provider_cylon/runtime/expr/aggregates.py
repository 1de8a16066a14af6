"""Aggregates written as SQL (``sum(price * (1 - discount))``): their result types, as DuckDB gives them.

``client.sql.parse_aggregates`` splits a SELECT item into aggregates over argument trees and one
tree over their results (placeholder columns ``__agg0``, ``__agg1`` ...). This module types that:
the group-by knows what every aggregate column will be before any worker starts, and the outer
expression is typed over those columns.

DuckDB's result types (by experiment): ``sum`` of integers or booleans is HUGEINT, which Arrow
holds as DECIMAL(38,0); of DECIMAL(p,s) it is DECIMAL(38,s); of floats DOUBLE. ``mean`` (avg),
``var`` and ``std`` are DOUBLE. ``min``, ``max`` and ``any_value`` keep the type; ``count`` and
``nunique`` are BIGINT.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pyarrow as pa

from airflow_provider_cylon.runtime.expr.errors import ExpressionError
from airflow_provider_cylon.runtime.expr.expression import Expr
from airflow_provider_cylon.runtime.expr.types import is_numeric, plain

#: The kernel's aggregation names that SQL aggregates map to.
AGGREGATES = ("count", "sum", "min", "max", "mean", "var", "std", "nunique", "any_value")


def aggregate_type(agg: str, arg: pa.DataType | None) -> pa.DataType:
    """The result type of aggregation ``agg`` over values of type ``arg`` (None for ``count(*)``).

    :raises ExpressionError: for an unknown aggregation or one that does not apply to the type.
    """
    if agg not in AGGREGATES:
        raise ExpressionError(f"unknown aggregation {agg!r}; expected one of {', '.join(AGGREGATES)}")
    if agg in ("count", "nunique"):
        return pa.int64()
    if arg is None:
        raise ExpressionError(f"{agg} needs an argument; only count takes *")
    if agg in ("min", "max", "any_value"):
        return plain(arg)
    numeric = is_numeric(arg) or pa.types.is_null(arg)
    if agg == "sum":
        if pa.types.is_integer(arg) or pa.types.is_boolean(arg) or pa.types.is_null(arg):
            return pa.decimal128(38, 0)  # DuckDB sums integers as HUGEINT
        if pa.types.is_decimal(arg):
            return pa.decimal256(76, arg.scale) if pa.types.is_decimal256(arg) else pa.decimal128(38, arg.scale)
        if pa.types.is_floating(arg):
            return pa.float64()
    elif numeric:  # mean, var, std
        return pa.float64()
    raise ExpressionError(f"{agg}() needs numbers, found values of type {arg}")


def typed_aggregates(parsed: Mapping[str, Any], schema: pa.Schema, where: str = "") -> tuple[pa.DataType, pa.Schema]:
    """Type one ``parse_aggregates`` result against the input schema.

    :param parsed: ``{"expr": ..., "aggs": [...]}`` as ``parse_aggregates`` returns it.
    :param schema: the group-by's input schema.
    :param where: the JobSpec field path, named in error messages.
    :returns: the item's result type, and the schema of the aggregate columns (``__agg0`` ...) that
        its ``expr`` is evaluated on.
    :raises ExpressionError: naming the aggregate's argument and the column types.
    """
    fields = []
    for i, spec in enumerate(parsed["aggs"]):
        arg = spec.get("arg")
        arg_type = None if arg is None else Expr.from_json(arg, where=f"{where}.aggs[{i}]").output_type(schema)
        try:
            fields.append(pa.field(spec["name"], aggregate_type(spec["agg"], arg_type)))
        except ExpressionError as err:
            sql = parsed["expr"].get("sql", "") if isinstance(parsed.get("expr"), Mapping) else ""
            raise err.located(expression=sql, where=where) from None
    agg_schema = pa.schema(fields)
    return Expr.from_json(parsed["expr"], where=where).output_type(agg_schema), agg_schema
