"""Parsing of the expression parameters steps carry (``where``, computed columns).

A JobSpec carries expressions as JSON trees (runtime/expr); SQL text is compiled
on the submitting side (airflow_provider_cylon.client), so a worker never parses.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow_provider_cylon.runtime import fields as f


def expression(value: Any, where: str) -> Any:
    """An ``Expr`` from its JSON tree (text is refused: it is compiled before submission)."""
    from airflow_provider_cylon.runtime.expr import Expr

    if isinstance(value, str):
        raise f.fail(where, f"expression text {value!r} is compiled on the submitting side "
                            "(airflow_provider_cylon.client); a JobSpec carries the compiled tree")
    return Expr.from_json(value, where=where)


def named_expressions(value: Any, where: str) -> tuple[tuple[str, Any], ...]:
    """``{name: tree}`` in order, as (name, Expr) pairs."""
    if not isinstance(value, Mapping) or not value:
        raise f.fail(where, f"expected a non-empty mapping name -> expression but found {value!r}")
    return tuple((f.string(k, f"{where}.<key>"), expression(v, f"{where}.{k}")) for k, v in value.items())
