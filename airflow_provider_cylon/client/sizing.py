"""Sizing a Lambda job before it starts, and pricing it after: the cost model applied to one job.

Before submit: the inputs' bytes and files (a listing, no data read) and, when
the user fixed no world size, the cheapest-then-fastest plan
(:func:`cost_model.choose_plan`). After the job: the projected AWS cost from the
rows the workers measured.
"""
from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow_provider_cylon.client import cost_model

if TYPE_CHECKING:
    from airflow_provider_cylon.runtime.spec import JobSpec

log = logging.getLogger(__name__)

#: Rows are unknown before reading; Parquet rows of typical ETL tables average ~32 bytes.
BYTES_PER_ROW_GUESS = 32
DEFAULT_MEMORY_MB = 2048


def size_inputs(spec: JobSpec) -> tuple[int, int]:
    """``(bytes, files)`` of the spec's inputs, from a listing; an input that cannot be listed counts 0.

    :param spec: the job (its storage options reach the listing).
    """
    from airflow_provider_cylon.runtime import storage

    total_bytes = total_files = 0
    for inp in spec.inputs:
        try:
            _, entries = storage.list_input(inp, spec.storage)
        except Exception as err:  # sizing is advisory; the workers report real errors
            log.warning("could not size input %s: %s", inp.path, err)
            continue
        total_bytes += sum(e.size for e in entries)
        total_files += len(entries)
    return total_bytes, total_files


def choose_world_size(spec: JobSpec, input_bytes: int, input_files: int) -> int | None:
    """World size the cost model chooses for the job (cheapest, then fastest); None if it cannot.

    :param spec: the job (op and channel).
    :param input_bytes: from :func:`size_inputs`.
    :param input_files: from :func:`size_inputs`.
    """
    channel = spec.channel if spec.channel in cost_model.CHANNELS else None
    try:
        plan = cost_model.choose_plan(input_bytes, input_bytes // BYTES_PER_ROW_GUESS, channel=channel, op=spec.op,
                                      input_files=input_files)
    except cost_model.CostModelError as err:
        log.warning("cost model could not choose a world size: %s", err)
        return None
    log.info("cost model chose %d workers (%s) for %d input bytes", plan.world_size, plan.channel, input_bytes)
    return plan.world_size


def projected_cost(submit: Mapping[str, Any], workers: Sequence[Mapping[str, Any]]) -> dict[str, Any] | None:
    """Projected AWS cost of a finished run from the measured rows; None when the model does not apply.

    :param submit: what was recorded at submit (world_size, channel, op, memory_mb, input_bytes, input_files).
    :param workers: the per-worker summaries (``rows_in``).
    """
    channel = submit.get("channel")
    if channel not in cost_model.CHANNELS:
        return None
    rows = sum(int(w.get("rows_in") or 0) for w in workers)
    try:
        plan = cost_model.Plan(world_size=int(submit["world_size"]), channel=channel,
                               input_bytes=int(submit.get("input_bytes") or 0), rows=rows,
                               memory_mb=int(submit.get("memory_mb") or DEFAULT_MEMORY_MB),
                               op=str(submit.get("op") or "join"), input_files=int(submit.get("input_files") or 0))
        return {**cost_model.project(plan), "plan": plan.to_dict()}
    except (cost_model.CostModelError, KeyError, TypeError, ValueError) as err:
        log.warning("projected cost unavailable: %s", err)
        return None
