"""CylonDifferenceOperator: distributed EXCEPT."""
from __future__ import annotations

from airflow_provider_cylon.operators.set_ops import CylonSetOperator


class CylonDifferenceOperator(CylonSetOperator):
    """Distinct rows of the first source that are in none of the others (SQL ``EXCEPT``).

    :param sources: ``[a, b, ...]``: rows of ``a`` not in ``b`` (templated).
    :param kwargs: see :class:`CylonBaseOperator`.
    """

    op = "difference"
