"""CylonSelectOperator: ``SELECT columns FROM source WHERE predicate``, written as a new dataset."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from airflow_provider_cylon.operators.base import CylonBaseOperator, CylonSpecError


class CylonSelectOperator(CylonBaseOperator):
    """Filter and project one input: SQL ``SELECT <columns> FROM <source> WHERE <where>``.

    The predicate is pushed down to the reader (Parquet row groups whose statistics
    exclude it are never decoded), and only the columns the result uses are read::

        CylonSelectOperator(
            task_id="recent_big_orders",
            source="data/orders/",
            where="o_orderdate >= DATE '{{ ds }}' - INTERVAL '7' DAY AND o_totalprice > 1000",
            columns={"o_orderkey": "o_orderkey", "price_eur": "o_totalprice * 0.92"},
            destination="data/recent_big_orders/{{ ds }}/",
        )

    :param source: the input: a path or ``{"path", "columns", "where"}`` (templated).
    :param where: SQL predicate; rows where it is TRUE are kept (templated).
    :param columns: a list of names to keep in order, or ``{name: SQL expression}`` (templated);
        ``None`` keeps every column.
    :param kwargs: see :class:`CylonBaseOperator`.
    """

    template_fields: Sequence[str] = ("source", "destination", "where", "columns")
    op = "pipeline"

    def __init__(self, *, source: str | Mapping[str, Any], where: str | None = None,
                 columns: Sequence[str] | Mapping[str, str] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if where is None and columns is None:
            raise CylonSpecError(f"task {self.task_id!r}: a select needs where, columns or both")
        self.source = source
        self.where = where
        self.columns = dict(columns) if isinstance(columns, Mapping) else list(columns) if columns else None

    def job_definition(self) -> dict[str, Any]:
        steps: list[dict[str, Any]] = []
        if self.where:
            steps.append({"op": "filter", "where": self.where})
        if self.columns:
            steps.append({"op": "project", "columns": self.columns})
        return {"op": "pipeline", "inputs": [self.source], "steps": steps}
