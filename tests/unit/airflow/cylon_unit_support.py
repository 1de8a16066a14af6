"""Helpers of the Airflow glue unit tests (a uniquely named module: test files import it)."""
from __future__ import annotations


class RecordingTI:
    """The few task-instance members the operators use (xcom_push, try_number, map_index)."""

    def __init__(self, try_number: int = 1, map_index: int = -1) -> None:
        self.try_number = try_number
        self.map_index = map_index
        self.xcoms: dict[str, object] = {}

    def xcom_push(self, key: str, value: object) -> None:
        self.xcoms[key] = value
