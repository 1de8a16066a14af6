"""CylonGroupByOperator: distributed group-by with mergeable partial aggregates."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from airflow_provider_cylon.operators.base import CylonBaseOperator, as_list


class CylonGroupByOperator(CylonBaseOperator):
    """Group ``source`` by ``by`` and aggregate; output columns are named ``{col}_{agg}``.

    Null is a group of its own; aggregations skip null values; ``var``/``std`` are
    the sample versions.

    :param source: the input (templated).
    :param by: group key column(s) (templated).
    :param aggs: ``{"col": "sum" | ["sum", "mean", ...]}`` among count, min, max, sum,
        mean, var, std, nunique (templated).
    :param kwargs: see :class:`CylonBaseOperator`.
    """

    template_fields: Sequence[str] = ("source", "destination", "by", "aggs")
    op = "groupby"

    def __init__(self, *, source: str, by: str | Sequence[str], aggs: Mapping[str, str | Sequence[str]],
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.source = source
        self.by = by
        self.aggs = dict(aggs)

    def job_definition(self) -> dict[str, Any]:
        aggs = {col: [funcs] if isinstance(funcs, str) else list(funcs) for col, funcs in self.aggs.items()}
        return {"op": "groupby", "inputs": [self.source],
                "steps": [{"op": "groupby", "by": as_list(self.by, "by", self.task_id), "aggs": aggs}]}
