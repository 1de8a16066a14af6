"""make_step: a step from keyword parameters, through the registry's JSON parser (as a spec builds it)."""
from __future__ import annotations

from typing import Any

from airflow_provider_cylon.runtime.ops import Step, step_from_dict


def make_step(op: str, **params: Any) -> Step:
    """``make_step("join", name="j", on=("k",))``; ``aggs`` may be ``(("v", ("sum",)),)`` pairs."""
    if isinstance(params.get("aggs"), tuple):
        params["aggs"] = {col: list(funcs) for col, funcs in params["aggs"]}
    return step_from_dict({"op": op, **params})
