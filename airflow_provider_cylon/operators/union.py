"""CylonUnionOperator: distributed UNION / UNION ALL."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow_provider_cylon.operators.set_ops import CylonSetOperator


class CylonUnionOperator(CylonSetOperator):
    """Rows of all ``sources``; with ``distinct`` (default) each distinct row once (SQL ``UNION``).

    :param sources: two or more inputs with the same columns (templated).
    :param distinct: drop duplicate rows (``False``: ``UNION ALL``).
    :param kwargs: see :class:`CylonBaseOperator`.
    """

    op = "union"

    def __init__(self, *, sources: Sequence[str], distinct: bool = True, **kwargs: Any) -> None:
        super().__init__(sources=sources, **kwargs)
        self.distinct = distinct

    def step(self) -> dict[str, Any]:
        return {"op": "union", "distinct": bool(self.distinct)}
