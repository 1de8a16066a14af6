"""Shared base of the set operations (union, intersect, difference): several inputs, whole rows."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow_provider_cylon.operators.base import CylonBaseOperator, CylonSpecError


class CylonSetOperator(CylonBaseOperator):
    """A set operation over two or more inputs with the same columns.

    Rows are compared whole, nulls equal to each other (as SQL ``UNION``,
    ``INTERSECT`` and ``EXCEPT``).

    :param sources: the inputs, in order (templated).
    :param kwargs: see :class:`CylonBaseOperator`.
    """

    template_fields: Sequence[str] = ("sources", "destination")

    def __init__(self, *, sources: Sequence[str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if isinstance(sources, str) or len(sources) < 2:
            raise CylonSpecError(f"task {self.task_id!r}: {self.op} needs a list of at least 2 sources, "
                                 f"found {sources!r}")
        self.sources = list(sources)

    def step(self) -> dict[str, Any]:
        return {"op": self.op}

    def job_definition(self) -> dict[str, Any]:
        return {"op": self.op, "inputs": list(self.sources), "steps": [self.step()]}
