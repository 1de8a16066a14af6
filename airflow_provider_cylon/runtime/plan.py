"""The plan of a job: every result's schema, and the columns each input is read with.

Forward, each step derives its output schema from its inputs' schemas (which is
also how an expression's types are checked: before any worker starts on the
submitting side, and again on each worker from the same footers). Backward, each
step says which input columns it needs for the output columns later steps need,
starting from every column of the published result: a column that no later step,
and not the output, uses is never read, shuffled or kept.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from airflow_provider_cylon.runtime import fields as f
from airflow_provider_cylon.runtime.errors import SpecError
from airflow_provider_cylon.runtime.ops import FilterStep, GroupByStep
from airflow_provider_cylon.runtime.spec import InputSpec, JobSpec
from airflow_provider_cylon.runtime.storage import ReadRequest


@dataclass(frozen=True)
class JobPlan:
    """What planning found.

    :param schemas: the schema of every input (as the steps see it) and step result, by name.
    :param reads: per input name, what to read (columns, predicate, result columns).
    """

    schemas: dict[str, pa.Schema]
    reads: dict[str, ReadRequest]

    @property
    def result_schema(self) -> pa.Schema:
        return list(self.schemas.values())[-1]


def _visible_schema(inp: InputSpec, file_schema: pa.Schema, where: str) -> pa.Schema:
    """The input as steps see it: its ``columns`` (in that order), after its ``where`` is checked."""
    names = file_schema.names
    for i, col in enumerate(inp.columns or ()):
        if col not in names:
            raise f.fail(f"{where}.columns[{i}]", f"input {inp.name!r} ({inp.path!r}) has no column {col!r}"
                                                  f"{f.closest(col, names)}; its columns are {names}")
    if inp.where is not None:
        kind = inp.where.output_type(file_schema)
        if not (pa.types.is_boolean(kind) or pa.types.is_null(kind)):
            raise f.fail(f"{where}.where", f"the predicate {inp.where.sql!r} of input {inp.name!r} is {kind}, "
                                           "not a boolean")
    if inp.columns is None:
        return file_schema
    return pa.schema([file_schema.field(c) for c in inp.columns])


def plan_job(spec: JobSpec, file_schemas: Mapping[str, pa.Schema]) -> JobPlan:
    """Derive schemas forward and needed columns backward.

    :param spec: the job.
    :param file_schemas: each input's file schema (first file's footer or header), by name.
    :raises SpecError: naming the step (``steps[i]``) or input field and what is wrong.
    """
    schemas: dict[str, pa.Schema] = {}
    for i, inp in enumerate(spec.inputs):
        schemas[inp.name] = _visible_schema(inp, file_schemas[inp.name], f"inputs[{i}]")
    for i, step in enumerate(spec.steps):
        sources = [schemas[n] for n in spec.step_inputs(i)]
        try:
            schemas[step.name] = step.output_schema(sources)
        except SpecError:
            raise
        except Exception as err:  # the step's own error names its columns; add where it is
            text = str(err)
            raise f.fail(f"steps[{i}]", text if step.what in text else f"{step.what}: {text}") from err

    needed: dict[str, set[str]] = {spec.result_name: set(schemas[spec.result_name].names)}
    for i in reversed(range(len(spec.steps))):
        step = spec.steps[i]
        names = spec.step_inputs(i)
        sources = [schemas[n] for n in names]
        required = step.required_columns(frozenset(needed.get(step.name, ())), sources)
        for name, schema, cols in zip(names, sources, required):
            available = set(schema.names)
            needed.setdefault(name, set()).update(available if cols is None else set(cols) & available)

    reads: dict[str, ReadRequest] = {}
    for inp in spec.inputs:
        predicate = inp.where if inp.where is not None else _pushable_filter(spec, inp.name)
        visible = schemas[inp.name].names
        keep = [c for c in visible if c in needed.get(inp.name, set())]
        extra = sorted(set(predicate.columns()) - set(keep)) if predicate is not None else []
        columns = tuple(keep + [c for c in file_schemas[inp.name].names if c in extra])
        reads[inp.name] = ReadRequest(columns=columns, predicate=predicate, keep=tuple(keep) if extra else None,
                                      dictionaries=_group_keys_only(spec, inp.name))
    return JobPlan(schemas=schemas, reads=reads)


def _group_keys_only(spec: JobSpec, input_name: str) -> tuple[str, ...]:
    """The columns of this input that its one reader, a group-by, uses only as keys.

    The reader may hand them over as dictionary arrays (small Parquet dictionaries): the
    group-by groups by the indices and restores the declared type on its output rows, where
    decoding 3M TPC-H flags into views and grouping the views again cost 0.05 s a rank.
    """
    readers = [i for i in range(len(spec.steps)) if input_name in spec.step_inputs(i)]
    if len(readers) != 1:
        return ()
    step = spec.steps[readers[0]]
    if not isinstance(step, GroupByStep) or spec.step_inputs(readers[0]) != (input_name,):
        return ()
    read_by_aggregates = set().union(*(o.columns() for o in step.aggs))
    return tuple(c for c in step.by if c not in read_by_aggregates)


def _pushable_filter(spec: JobSpec, input_name: str) -> Any:
    """The predicate of a filter step that alone reads this input, to apply while reading.

    Row groups its statistics exclude are then never decoded. The step still runs
    (filtering rows that already pass is cheap), so the result is the same.
    """
    readers = [i for i in range(len(spec.steps)) if input_name in spec.step_inputs(i)]
    if len(readers) != 1:
        return None
    step = spec.steps[readers[0]]
    if isinstance(step, FilterStep) and spec.step_inputs(readers[0]) == (input_name,):
        return step.where
    return None
