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


def ordered_pairs(value: Any, where: str, what: str) -> list[tuple[Any, Any]]:
    """A mapping, or the ``[[key, value], ...]`` list a JobSpec stores it as, as ordered pairs.

    A spec's JSON text has sorted keys (equal specs, equal text), so mappings whose
    order is the output's column order travel as lists of pairs.
    """
    if isinstance(value, Mapping) and value:
        return list(value.items())
    if (isinstance(value, (list, tuple)) and value
            and all(isinstance(p, (list, tuple)) and len(p) == 2 for p in value)):
        return [(p[0], p[1]) for p in value]
    raise f.fail(where, f"expected a non-empty mapping {what} but found {value!r}")


def pairs_to_json(items: Any) -> list[list[Any]]:
    """Ordered (name, value) pairs as the JSON list a spec stores."""
    return [[k, v] for k, v in items]


def named_expressions(value: Any, where: str) -> tuple[tuple[str, Any], ...]:
    """``{name: tree}`` (or its pair list) in order, as (name, Expr) pairs."""
    return tuple((f.string(k, f"{where}.<key>"), expression(v, f"{where}.{k}"))
                 for k, v in ordered_pairs(value, where, "name -> expression"))
