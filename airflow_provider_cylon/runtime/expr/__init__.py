"""The expression language: a JSON tree of SQL expressions, typed and evaluated with Arrow compute.

Workers import only this package (pyarrow and the standard library); the SQL
text is parsed on the submitting side (``airflow_provider_cylon.client.sql``).
The language reference is docs/expressions.md.
"""
from __future__ import annotations

from airflow_provider_cylon.runtime.expr.aggregates import AGGREGATES, aggregate_type, typed_aggregates
from airflow_provider_cylon.runtime.expr.errors import ExpressionError
from airflow_provider_cylon.runtime.expr.expression import Expr, filter_table
from airflow_provider_cylon.runtime.expr.sqltypes import arrow_type, sql_type_name
from airflow_provider_cylon.runtime.expr.tree import render

__all__ = [
    "AGGREGATES",
    "Expr",
    "ExpressionError",
    "aggregate_type",
    "arrow_type",
    "filter_table",
    "render",
    "sql_type_name",
    "typed_aggregates",
]
