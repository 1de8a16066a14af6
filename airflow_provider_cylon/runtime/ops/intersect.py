"""intersect: distinct rows present in every input (SQL ``INTERSECT``)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import pyarrow as pa

from airflow_provider_cylon import kernel
from airflow_provider_cylon.runtime.ops.set_operation import SetOperationStep


@dataclass(frozen=True, kw_only=True)
class IntersectStep(SetOperationStep):
    """Distinct rows of the first input that every other input holds."""

    op: ClassVar[str] = "intersect"

    def combine(self, result: pa.Table, other: pa.Table) -> pa.Table:
        return kernel.intersect(result, other)
