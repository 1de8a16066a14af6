"""compile_spec: a job description with SQL text -> a validated JobSpec, checked against the inputs.

Users write expressions as SQL text (WHERE-clause and SELECT-list syntax) in input
mappings and steps. Here, on the submitting side, the text becomes JSON expression
trees (client/sql.py, sqlglot), so workers never parse; then the plan is derived
from the inputs' footers (or CSV headers), which checks every column and type
before any worker starts. The error names the field, the expression, the fragment
and the column with its type.
"""
from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from airflow_provider_cylon.client.overlap import check_destination
from airflow_provider_cylon.client.sql import parse_aggregates, parse_expression
from airflow_provider_cylon.runtime import storage
from airflow_provider_cylon.runtime.plan import JobPlan, plan_job
from airflow_provider_cylon.runtime.spec import JobSpec

#: Step parameters that hold one predicate / a mapping name -> expression.
_PREDICATES = {"filter": ("where",), "groupby": ("having",)}
_EXPRESSION_MAPS = {"project": "columns", "with_columns": "columns"}


def _tree(value: Any, where: str) -> Any:
    return parse_expression(value, where=where) if isinstance(value, str) else value


def _compile_step(step: Mapping[str, Any], where: str) -> dict[str, Any]:
    out = dict(step)
    op = out.get("op")
    for key in _PREDICATES.get(op, ()):  # type: ignore[arg-type]
        if out.get(key) is not None:
            out[key] = _tree(out[key], f"{where}.{key}")
    mapping = _EXPRESSION_MAPS.get(op)  # type: ignore[arg-type]
    if mapping and isinstance(out.get(mapping), Mapping):
        out[mapping] = {name: _tree(e, f"{where}.{mapping}.{name}") for name, e in out[mapping].items()}
    if op == "groupby" and isinstance(out.get("aggs"), Mapping):
        aggs: dict[str, Any] = {}
        for name, value in out["aggs"].items():
            if isinstance(value, str) and "(" in value:
                aggs[name] = parse_aggregates(value, where=f"{where}.aggs.{name}")
            else:
                aggs[name] = value
        out["aggs"] = aggs
    return out


def compile_definition(data: Mapping[str, Any]) -> dict[str, Any]:
    """The same description with every SQL text replaced by its expression tree.

    :param data: a JobSpec mapping whose ``where``/``having``/expression fields may be text.
    """
    out = copy.deepcopy(dict(data))
    inputs = out.get("inputs")
    if isinstance(inputs, list):
        out["inputs"] = [
            {**item, "where": _tree(item["where"], f"inputs[{i}].where")}
            if isinstance(item, Mapping) and item.get("where") is not None else item
            for i, item in enumerate(inputs)
        ]
    if isinstance(out.get("steps"), list):
        out["steps"] = [_compile_step(s, f"steps[{i}]") if isinstance(s, Mapping) else s
                        for i, s in enumerate(out["steps"])]
    elif out.get("op") not in (None, "pipeline"):  # a single op with its parameters at the top level
        out = {**out, **{k: v for k, v in _compile_step(out, "steps[0]").items() if k in out}}
    return out


def check_inputs(spec: JobSpec) -> JobPlan:
    """Refuse a destination overlapping an input; read each input's schema (footer or header)
    and plan the job: every column and type checked.

    :param spec: the compiled spec.
    :raises SpecError: (or a subclass) naming the field, the input or step, and what is wrong.
    """
    check_destination(spec)
    schemas = {inp.name: storage.input_schema(inp, spec.storage) for inp in spec.inputs}
    return plan_job(spec, schemas)


def compile_spec(data: Mapping[str, Any], *, check: bool = True) -> JobSpec:
    """A validated JobSpec from a description that may hold SQL expression text.

    :param data: the JobSpec mapping (``JobSpec.from_dict`` form, expressions as text or trees).
    :param check: also read the inputs' schemas and plan the job (errors before any worker starts).
    """
    spec = JobSpec.from_dict(compile_definition(data))
    if check:
        check_inputs(spec)
    return spec
