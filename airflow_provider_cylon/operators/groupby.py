"""CylonGroupByOperator: distributed group-by with mergeable partial aggregates."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from airflow_provider_cylon.operators.base import CylonBaseOperator, as_list


class CylonGroupByOperator(CylonBaseOperator):
    """Group ``source`` by ``by`` and aggregate (SQL ``SELECT by, aggs FROM source GROUP BY by HAVING ...``).

    Aggregates are ``{"col": "sum" | ["sum", "mean", ...]}`` (outputs named ``{col}_{agg}``),
    or output name -> SQL aggregate text: ``{"revenue": "sum(price * (1 - discount))",
    "n": "count(*)", "buyers": "count(distinct customer_id)"}``; both forms mix. Null is a
    group of its own; aggregations skip null values; ``var``/``std`` are the sample
    versions; ``avg`` is ``mean``. Without ``by`` the result is one row (a global aggregate).

    :param source: the input: a path or ``{"path", "columns", "where"}`` (templated).
    :param by: group key column(s); ``None`` or ``[]`` for a global aggregate (templated).
    :param aggs: the aggregates, in either form (templated).
    :param having: a predicate over the output columns, e.g. ``"revenue > 1000"`` (templated).
    :param kwargs: see :class:`CylonBaseOperator`.
    """

    template_fields: Sequence[str] = ("source", "destination", "by", "aggs", "having")
    op = "groupby"

    def __init__(self, *, source: str | Mapping[str, Any], aggs: Mapping[str, str | Sequence[str]],
                 by: str | Sequence[str] | None = None, having: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.source = source
        self.by = by
        self.aggs = dict(aggs)
        self.having = having

    def job_definition(self) -> dict[str, Any]:
        aggs = {col: funcs if isinstance(funcs, str) and "(" in funcs
                else [funcs] if isinstance(funcs, str) else list(funcs) for col, funcs in self.aggs.items()}
        step: dict[str, Any] = {"op": "groupby", "by": as_list(self.by, "by", self.task_id), "aggs": aggs}
        if self.having:
            step["having"] = self.having
        return {"op": "groupby", "inputs": [self.source], "steps": [step]}
