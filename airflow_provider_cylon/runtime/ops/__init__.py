"""The steps of a job: one operation a module, registered by ``op``.

Adding an operation means adding one module with a :class:`Step` subclass and
listing it in :data:`STEP_TYPES`. :func:`run_pipeline` runs a spec's steps on one
rank; :mod:`runtime.plan` derives schemas and prunes columns from the same classes.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pyarrow as pa

from airflow_provider_cylon.runtime import fields as f
from airflow_provider_cylon.runtime.ops.base import Step
from airflow_provider_cylon.runtime.ops.difference import DifferenceStep
from airflow_provider_cylon.runtime.ops.dist import Dist, OperationError
from airflow_provider_cylon.runtime.ops.filter import FilterStep
from airflow_provider_cylon.runtime.ops.groupby import GroupByStep
from airflow_provider_cylon.runtime.ops.head import HeadStep
from airflow_provider_cylon.runtime.ops.intersect import IntersectStep
from airflow_provider_cylon.runtime.ops.join import JoinStep
from airflow_provider_cylon.runtime.ops.project import ProjectStep
from airflow_provider_cylon.runtime.ops.repartition import RepartitionStep
from airflow_provider_cylon.runtime.ops.slice import SliceStep
from airflow_provider_cylon.runtime.ops.sort import SortStep
from airflow_provider_cylon.runtime.ops.union import UnionStep
from airflow_provider_cylon.runtime.ops.unique import UniqueStep
from airflow_provider_cylon.runtime.ops.with_columns import WithColumnsStep

log = logging.getLogger(__name__)

STEP_TYPES: dict[str, type[Step]] = {cls.op: cls for cls in (
    JoinStep, UnionStep, IntersectStep, DifferenceStep, UniqueStep, SortStep, GroupByStep,
    FilterStep, ProjectStep, WithColumnsStep, RepartitionStep, HeadStep, SliceStep,
)}
STEP_OPS = tuple(STEP_TYPES)


def step_from_dict(data: Mapping[str, Any], where: str = "steps[0]", index: int = 0) -> Step:
    """The step a JSON mapping describes (its ``op`` picks the class).

    :param data: ``{"op": ..., <its parameters>}``.
    :param where: field path used in error messages.
    :param index: position in the pipeline (default name ``step{index}``).
    """
    if not isinstance(data, Mapping):
        raise f.fail(where, f"expected a mapping but found {type(data).__name__}")
    op = f.choice(data.get("op"), f"{where}.op", STEP_OPS)
    return STEP_TYPES[op].from_dict(data, where, index)


def run_step(d: Dist, step: Step, inputs: Sequence[pa.Table]) -> pa.Table:
    """Run one step on this rank, recording its time, rows and bytes sent.

    :param d: this rank's handle.
    :param step: the step.
    :param inputs: this rank's share of each of the step's inputs (a ``list`` the step
        may take them out of, to free each once used).
    """
    started = time.perf_counter()
    sent = d.stats.bytes_sent
    out = step.run(d, inputs if isinstance(inputs, list) else list(inputs))
    seconds = time.perf_counter() - started
    d.stats.phases[f"step:{step.name}"] = seconds
    d.stats.steps[step.name] = {"op": step.op, "rows": out.num_rows, "bytes_sent": d.stats.bytes_sent - sent,
                                "seconds": round(seconds, 6)}
    log.info("%s step %s (%s): %d rows in %.3fs", d.tag, step.name, step.op, out.num_rows, seconds)
    return out


def run_pipeline(d: Dist, steps: Sequence[Step], step_inputs: Callable[[int], Sequence[str]],
                 load: Callable[[str], pa.Table]) -> pa.Table:
    """Run every step in order; returns the last step's result share.

    :param d: this rank's handle.
    :param steps: the spec's steps.
    :param step_inputs: names each step reads (``JobSpec.step_inputs``).
    :param load: reads this rank's share of a job input by name (called once per input).
    """
    last_use = {name: i for i in range(len(steps)) for name in step_inputs(i)}
    results: dict[str, pa.Table] = {}
    out: pa.Table | None = None
    for i, step in enumerate(steps):
        tables = []
        for name in step_inputs(i):
            if name not in results:
                results[name] = load(name)
            tables.append(results[name])
        for name in step_inputs(i):  # no later step reads it: the step may free it
            if last_use[name] == i:
                results.pop(name, None)
        out = run_step(d, step, tables)
        del tables
        results[step.name] = out
    assert out is not None
    return out


__all__ = ["STEP_OPS", "STEP_TYPES", "DifferenceStep", "Dist", "FilterStep", "GroupByStep", "HeadStep",
           "IntersectStep", "JoinStep", "OperationError", "ProjectStep", "RepartitionStep", "SliceStep",
           "SortStep", "Step", "UnionStep", "UniqueStep", "WithColumnsStep", "run_pipeline", "run_step",
           "step_from_dict"]
