"""CylonIntersectOperator: distributed INTERSECT."""
from __future__ import annotations

from airflow_provider_cylon.operators.set_ops import CylonSetOperator


class CylonIntersectOperator(CylonSetOperator):
    """Distinct rows present in every source (SQL ``INTERSECT``).

    :param sources: two or more inputs with the same columns (templated).
    :param kwargs: see :class:`CylonBaseOperator`.
    """

    op = "intersect"
