"""What the operators share besides the base class: argument checks (errors name the task and the
field) and the job id of a task instance."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow_provider_cylon.exceptions import CylonProviderError


class CylonSpecError(CylonProviderError):
    """The operator's arguments do not make a valid job (names the task and the field)."""


def as_list(value: Any, name: str, task_id: str) -> list[Any]:
    """A column name or list of names as a list (templated values may arrive as either).

    :param value: the argument.
    :param name: its name, for errors.
    :param task_id: the task, for errors.
    """
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, Sequence):
        return list(value)
    raise CylonSpecError(f"task {task_id!r}: {name} must be a column name or a list of names, found {value!r}")


def task_job_id(dag_id: str, task_id: str, context: Any) -> str:
    """The job id stem of a task instance: unique per DAG, task, run and map index, the same for every try.

    A retry finds its earlier try's job in the task-state store, never by the try
    number; each submission appends its fencing token (operators/resumable.py).

    :param dag_id: the DAG.
    :param task_id: the task.
    :param context: the task context (``ti``, ``run_id``).
    """
    from airflow_provider_cylon.runtime.event import make_job_id

    ti = context["ti"]
    map_index = getattr(ti, "map_index", -1)
    parts = [dag_id, task_id, context["run_id"]]
    if map_index is not None and map_index >= 0:
        parts.append(f"map{map_index}")
    return make_job_id(*parts)
