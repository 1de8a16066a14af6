"""CylonUniqueOperator: distributed DISTINCT."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow_provider_cylon.operators.base import CylonBaseOperator, as_list


class CylonUniqueOperator(CylonBaseOperator):
    """Distinct rows of ``source`` (by all columns, or by ``subset``).

    :param source: the input (templated).
    :param subset: columns that define a duplicate; None means all columns (templated).
    :param kwargs: see :class:`CylonBaseOperator`.
    """

    template_fields: Sequence[str] = ("source", "destination", "subset")
    op = "unique"

    def __init__(self, *, source: str, subset: str | Sequence[str] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.source = source
        self.subset = subset

    def job_definition(self) -> dict[str, Any]:
        step: dict[str, Any] = {"op": "unique"}
        if self.subset is not None:
            step["subset"] = as_list(self.subset, "subset", self.task_id)
        return {"op": "unique", "inputs": [self.source], "steps": [step]}
