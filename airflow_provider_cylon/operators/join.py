"""CylonJoinOperator: distributed join of two tables."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow_provider_cylon.operators.base import CylonBaseOperator, CylonSpecError, as_list


class CylonJoinOperator(CylonBaseOperator):
    """Join ``left`` and ``right`` across workers (hash shuffle, or broadcast of a small side).

    SQL semantics: null keys never match; with ``on`` each key column appears once
    (as ``USING``); with ``left_on``/``right_on`` both key columns are kept; other
    clashing names get the suffixes.

    :param left: left input: file, directory/prefix or glob (templated).
    :param right: right input (templated).
    :param on: key column(s) present in both inputs (templated).
    :param left_on: key column(s) of ``left`` (with ``right_on``) (templated).
    :param right_on: key column(s) of ``right`` (templated).
    :param how: ``inner``, ``left``, ``right``, ``outer``, ``semi`` or ``anti`` (templated).
    :param suffixes: suffixes of clashing non-key columns.
    :param kwargs: see :class:`CylonBaseOperator` (``destination``, ``parallelism``, ...).
    """

    template_fields: Sequence[str] = ("left", "right", "destination", "on", "left_on", "right_on", "how")
    op = "join"

    def __init__(self, *, left: str, right: str, on: str | Sequence[str] | None = None,
                 left_on: str | Sequence[str] | None = None, right_on: str | Sequence[str] | None = None,
                 how: str = "inner", suffixes: Sequence[str] = ("_x", "_y"), **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if on is None and (left_on is None or right_on is None):
            raise CylonSpecError(f"task {self.task_id!r}: a join needs on, or both left_on and right_on")
        self.left = left
        self.right = right
        self.on = on
        self.left_on = left_on
        self.right_on = right_on
        self.how = how
        self.suffixes = tuple(suffixes)

    def job_definition(self) -> dict[str, Any]:
        step: dict[str, Any] = {"op": "join", "how": self.how, "suffixes": list(self.suffixes)}
        if self.on is not None:
            step["on"] = as_list(self.on, "on", self.task_id)
        else:
            step["left_on"] = as_list(self.left_on, "left_on", self.task_id)
            step["right_on"] = as_list(self.right_on, "right_on", self.task_id)
        return {"op": "join", "inputs": [self.left, self.right], "steps": [step]}
