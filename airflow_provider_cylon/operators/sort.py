"""CylonSortOperator: distributed sort (sample sort: range partition, local sort, ordered parts)."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from airflow_provider_cylon.operators.base import CylonBaseOperator, as_list


class CylonSortOperator(CylonBaseOperator):
    """Sort ``source`` by ``by``; the output parts, read in rank order, are globally sorted.

    Nulls sort last in both directions; equal keys keep their input order.

    :param source: the input (templated).
    :param by: sort column(s) (templated).
    :param ascending: one flag, or one per column.
    :param limit: keep only the first N rows of the order (a distributed top-N: each worker
        keeps its local top N and one merge picks the N; SQL ``ORDER BY ... LIMIT N``).
    :param kwargs: see :class:`CylonBaseOperator`.
    """

    template_fields: Sequence[str] = ("source", "destination", "by")
    op = "sort"

    def __init__(self, *, source: str | Mapping[str, Any], by: str | Sequence[str],
                 ascending: bool | Sequence[bool] = True, limit: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.limit = limit
        self.source = source
        self.by = by
        self.ascending = ascending

    def job_definition(self) -> dict[str, Any]:
        by = as_list(self.by, "by", self.task_id)
        ascending = [bool(self.ascending)] * len(by) if isinstance(self.ascending, bool) else list(self.ascending)
        step: dict[str, Any] = {"op": "sort", "by": by, "ascending": ascending}
        if self.limit is not None:
            step["limit"] = self.limit
        return {"op": "sort", "inputs": [self.source], "steps": [step]}
