"""CylonPipelineOperator: several operations in one fan-out, no intermediate files."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from airflow_provider_cylon.operators.base import CylonBaseOperator, CylonSpecError


class CylonPipelineOperator(CylonBaseOperator):
    """Run a chain of steps on the same workers; only the last step's result is written.

    Steps name their inputs: the job inputs (the keys of ``inputs``) or earlier steps'
    ``name``. Without ``inputs`` a step reads the previous step's result (the first
    step reads every job input)::

        CylonPipelineOperator(
            task_id="revenue_by_country",
            inputs={"orders": "data/orders/{{ ds }}/", "customers": "data/customers/"},
            steps=[
                {"op": "join", "inputs": ["orders", "customers"], "on": "customer_id"},
                {"op": "groupby", "by": "country", "aggs": {"amount": ["sum", "count"]}},
                {"op": "sort", "by": "amount_sum", "ascending": False},
            ],
            destination="data/revenue/{{ ds }}/",
        )

    :param inputs: job inputs: ``{name: path | {"path", "columns", "where"}}`` or a list of them
        (named ``in0``, ``in1``, ...) (templated).
    :param steps: the operations, each ``{"op": ..., <its parameters>}`` (templated).
    :param kwargs: see :class:`CylonBaseOperator`.
    """

    template_fields: Sequence[str] = ("inputs", "steps", "destination")
    op = "pipeline"

    def __init__(self, *, inputs: Mapping[str, Any] | Sequence[Any], steps: Sequence[Mapping[str, Any]],
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not steps:
            raise CylonSpecError(f"task {self.task_id!r}: a pipeline needs at least one step")
        self.inputs = dict(inputs) if isinstance(inputs, Mapping) else list(inputs)
        self.steps = [dict(step) for step in steps]

    def job_definition(self) -> dict[str, Any]:
        if isinstance(self.inputs, Mapping):
            inputs: list[Any] = [{**value, "name": name} if isinstance(value, Mapping) else {"name": name, "path": value}
                                 for name, value in self.inputs.items()]
        else:
            inputs = list(self.inputs)
        return {"op": "pipeline", "inputs": inputs, "steps": [dict(step) for step in self.steps]}
