"""difference: distinct rows of the first input that no other input holds (SQL ``EXCEPT``)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import pyarrow as pa

from airflow_provider_cylon import kernel
from airflow_provider_cylon.runtime.ops.set_operation import SetOperationStep


@dataclass(frozen=True, kw_only=True)
class DifferenceStep(SetOperationStep):
    """Distinct rows of the first input not in the others."""

    op: ClassVar[str] = "difference"

    def combine(self, result: pa.Table, other: pa.Table) -> pa.Table:
        return kernel.difference(result, other)
