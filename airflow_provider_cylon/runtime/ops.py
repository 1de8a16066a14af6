"""Distributed table operations built from the kernel and one channel's ``all_to_all``.

Every function runs on every rank at once (SPMD) with that rank's share of the
data and returns that rank's share of the result; the result over all ranks
equals the single-process kernel's as a multiset (and, for ``sort``, the shares in
rank order are globally ordered). Every rank must call the same functions in the
same order: each exchange is one channel step.

* join: both sides shuffled by key hash (``kernel.hash_partition``), or the small
  side broadcast when it is under ``broadcast_threshold_bytes`` and the join type
  allows it (right side for inner/left/semi/anti, left side for inner/right; an
  outer join always shuffles, a broadcast side would be emitted once per rank).
* union/intersect/difference/unique: shuffled by whole-row hash (or the subset).
* groupby: ``groupby_partial`` -> shuffle by keys -> ``groupby_combine``.
* sort: local sort, weighted sample splitters gathered from every rank, global
  splitters chosen on every rank alike, ``range_partition``, exchange,
  ``merge_sorted``. A hidden (rank, row) tiebreaker makes every sort key unique,
  so equal keys are split across ranks (no skew hot spot) and the sort is stable.
* repartition / head / slice: positions from an all_gather of row counts.
"""
from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import pyarrow as pa
import pyarrow.compute as pc

from airflow_provider_cylon import kernel
from airflow_provider_cylon.kernel.join import common_key_type
from airflow_provider_cylon.runtime.context import WorkerStats
from airflow_provider_cylon.runtime.errors import CylonRuntimeError
from airflow_provider_cylon.runtime.spec import StepSpec

log = logging.getLogger(__name__)

RANK_COL = "__cylon_rank"
ROW_COL = "__cylon_row"
WEIGHT_COL = "__cylon_weight"
#: Samples each rank contributes per output partition when choosing sort splitters.
SAMPLES_PER_PARTITION = 16


class OperationError(CylonRuntimeError, ValueError):
    """A distributed operation cannot run on these inputs (names the step and the columns)."""


class Channel(Protocol):
    """What ops need from a channel (runtime/channels implements it)."""

    def all_to_all(self, parts: Sequence[pa.Table]) -> list[pa.Table]: ...


@dataclass
class Dist:
    """One rank's handle for distributed ops.

    :param channel: the all_to_all transport.
    :param rank: this rank.
    :param world_size: number of ranks.
    :param stats: counters (bytes shuffled, shuffles, phase timings).
    :param broadcast_threshold_bytes: join sides smaller than this are broadcast.
    :param job_id: for log lines.
    """

    channel: Channel
    rank: int
    world_size: int
    stats: WorkerStats = field(default_factory=WorkerStats)
    broadcast_threshold_bytes: int = 8 * 1024 * 1024
    job_id: str = "-"

    @property
    def tag(self) -> str:
        return f"job_id={self.job_id} rank={self.rank}"


# -- exchange helpers --------------------------------------------------------------------------
def _concat(tables: Sequence[pa.Table], schema: pa.Schema | None = None) -> pa.Table:
    """Concatenate shares (some possibly empty, with slightly different inferred types)."""
    tables = list(tables)
    if not tables:
        if schema is None:
            raise OperationError("nothing to concatenate and no schema given")
        return schema.empty_table()
    if schema is not None:
        tables = [t if t.schema.equals(schema) else t.cast(schema) if t.schema.names == schema.names else t
                  for t in tables]
    try:
        return pa.concat_tables(tables)
    except pa.ArrowInvalid:
        return pa.concat_tables(tables, promote_options="permissive")


def exchange(d: Dist, parts: Sequence[pa.Table]) -> list[pa.Table]:
    """One all_to_all step; counts the bytes sent to other ranks.

    :param d: this rank's handle.
    :param parts: one table per destination rank.
    :returns: the table received from each rank (index = source rank).
    """
    if d.world_size == 1:
        return [parts[0]]
    d.stats.shuffles += 1
    d.stats.bytes_sent += sum(p.nbytes for i, p in enumerate(parts) if i != d.rank)
    received = d.channel.all_to_all(list(parts))
    d.stats.bytes_received += sum(t.nbytes for i, t in enumerate(received) if i != d.rank)
    return received


def shuffle(d: Dist, table: pa.Table, keys: Sequence[str]) -> pa.Table:
    """Hash-partition ``table`` by ``keys`` and exchange: equal keys meet on one rank.

    :param d: this rank's handle.
    :param table: this rank's rows.
    :param keys: partitioning columns.
    """
    if d.world_size == 1:
        return table
    parts = kernel.hash_partition(table, list(keys), d.world_size)
    return _concat(exchange(d, parts), table.schema)


def allgather_table(d: Dist, table: pa.Table) -> list[pa.Table]:
    """Every rank's ``table``, indexed by rank.

    :param d: this rank's handle.
    :param table: this rank's table.
    """
    if d.world_size == 1:
        return [table]
    return exchange(d, [table] * d.world_size)


def allgather_json(d: Dist, value: object) -> list[object]:
    """Every rank's JSON-serialisable ``value``, indexed by rank (one small exchange).

    :param d: this rank's handle.
    :param value: this rank's value.
    """
    if d.world_size == 1:
        return [value]
    tables = allgather_table(d, pa.table({"v": pa.array([json.dumps(value)], pa.string())}))
    return [json.loads(t.column("v")[0].as_py()) for t in tables]


# -- join ------------------------------------------------------------------------------------
def _align_types(left: pa.Table, right: pa.Table, lk: Sequence[str], rk: Sequence[str],
                 what: str) -> tuple[pa.Table, pa.Table]:
    """Give paired key columns one type, so equal values hash (and partition) alike."""
    for a, b in zip(lk, rk):
        if a not in left.column_names:
            raise OperationError(f"{what}: key column {a!r} not in left input columns {left.column_names}")
        if b not in right.column_names:
            raise OperationError(f"{what}: key column {b!r} not in right input columns {right.column_names}")
        ta, tb = left.schema.field(a).type, right.schema.field(b).type
        if ta == tb:
            continue
        if pa.types.is_null(ta) or pa.types.is_null(tb):  # an empty input read without a type
            common = tb if pa.types.is_null(ta) else ta
        else:
            # The kernel's own rule, so both sides hash (partition) and compare alike.
            try:
                common = common_key_type(ta, tb, a, b)
            except kernel.CylonKernelError as err:
                raise OperationError(f"{what}: key {a!r} is {ta} on the left but {b!r} is {tb} on the right") from err
            if common is None:  # utf8 vs large_utf8 and the like: equal values hash alike
                continue
        if ta != common:
            left = left.set_column(left.schema.get_field_index(a), a, left.column(a).cast(common))
        if tb != common:
            right = right.set_column(right.schema.get_field_index(b), b, right.column(b).cast(common))
    return left, right


def join(d: Dist, left: pa.Table, right: pa.Table, step: StepSpec) -> pa.Table:
    """Distributed join (every kernel join type).

    :param d: this rank's handle.
    :param left: this rank's share of the left input.
    :param right: this rank's share of the right input.
    :param step: the join step (keys, how, suffixes).
    """
    return join_owned(d, [left, right], step)


def join_owned(d: Dist, inputs: list[pa.Table], step: StepSpec) -> pa.Table:
    """:func:`join` that takes its two inputs out of ``inputs`` and drops each once shuffled.

    A worker's inputs are its largest buffers; freed after their shuffle, their memory
    serves the exchange and the join's output instead of fresh pages (which a new
    process pays for in page faults). The caller's list is emptied.
    """
    left, right = inputs.pop(0), inputs.pop(0)
    lk = list(step.on or step.left_on or ())
    rk = list(step.on or step.right_on or ())
    left, right = _align_types(left, right, lk, rk, f"join step {step.name!r}")

    def local(a: pa.Table, b: pa.Table) -> pa.Table:
        if step.on is not None:
            return kernel.join(a, b, on=lk, how=step.how, suffixes=tuple(step.suffixes))
        return kernel.join(a, b, left_on=lk, right_on=rk, how=step.how, suffixes=tuple(step.suffixes))

    if d.world_size == 1:
        return local(left, right)
    sizes = allgather_json(d, [left.nbytes, right.nbytes])
    total_left = sum(int(s[0]) for s in sizes)  # type: ignore[index]
    total_right = sum(int(s[1]) for s in sizes)  # type: ignore[index]
    threshold = d.broadcast_threshold_bytes
    if step.how in ("inner", "left", "semi", "anti") and total_right <= threshold and total_right <= total_left:
        log.info("%s join %s: broadcasting right side (%d bytes)", d.tag, step.name, total_right)
        right = _concat(allgather_table(d, right), right.schema)
        return local(left, right)
    if step.how in ("inner", "right") and total_left <= threshold:
        log.info("%s join %s: broadcasting left side (%d bytes)", d.tag, step.name, total_left)
        left = _concat(allgather_table(d, left), left.schema)
        return local(left, right)
    log.info("%s join %s: shuffling both sides (%d + %d bytes)", d.tag, step.name, total_left, total_right)
    left = shuffle(d, left, lk)  # rebinding frees this rank's unshuffled left share
    right = shuffle(d, right, rk)
    return local(left, right)


# -- set operations --------------------------------------------------------------------------
def _conform_set_input(first: pa.Table, other: pa.Table, what: str, index: int) -> pa.Table:
    """Positional schema match, as SQL set operations do: names and types of the first input."""
    if other.num_columns != first.num_columns:
        raise OperationError(f"{what}: input {index} has {other.num_columns} columns {other.column_names} but "
                             f"input 0 has {first.num_columns} {first.column_names}")
    if other.column_names != first.column_names:
        other = other.rename_columns(first.column_names)
    if not other.schema.equals(first.schema):
        try:
            other = other.cast(first.schema)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as err:
            raise OperationError(f"{what}: input {index} schema {other.schema} does not match input 0 "
                                 f"{first.schema}: {err}") from err
    return other


def set_operation(d: Dist, op: str, tables: Sequence[pa.Table], step: StepSpec) -> pa.Table:
    """union / intersect / difference over two or more inputs (whole-row semantics, nulls equal).

    :param d: this rank's handle.
    :param op: ``union|intersect|difference``.
    :param tables: this rank's share of each input, in order.
    :param step: the step (``distinct`` for union).
    """
    what = f"{op} step {step.name!r}"
    first = tables[0]
    inputs = [first] + [_conform_set_input(first, t, what, i + 1) for i, t in enumerate(tables[1:])]
    if op == "union" and not step.distinct:
        return _concat(inputs, first.schema)  # UNION ALL: no exchange needed
    keys = first.column_names
    if op == "union":  # UNION = DISTINCT over the concatenation: one exchange
        return kernel.unique(shuffle(d, _concat(inputs, first.schema), keys))
    shuffled = [shuffle(d, t, keys) for t in inputs]
    result = shuffled[0]
    for other in shuffled[1:]:
        result = kernel.intersect(result, other) if op == "intersect" else kernel.difference(result, other)
    return result


def unique(d: Dist, table: pa.Table, step: StepSpec) -> pa.Table:
    """Distinct rows (or distinct on ``step.subset``).

    :param d: this rank's handle.
    :param table: this rank's share.
    :param step: the step (``subset``).
    """
    keys = list(step.subset) if step.subset else table.column_names
    missing = [k for k in keys if k not in table.column_names]
    if missing:
        raise OperationError(f"unique step {step.name!r}: subset columns {missing} not in {table.column_names}")
    return kernel.unique(shuffle(d, table, keys), subset=list(step.subset) if step.subset else None)


# -- groupby ---------------------------------------------------------------------------------
def groupby(d: Dist, table: pa.Table, step: StepSpec) -> pa.Table:
    """Distributed group-by: partial aggregate, shuffle by keys, combine.

    :param d: this rank's handle.
    :param table: this rank's share.
    :param step: the step (``by``, ``aggs``).
    """
    by = list(step.by or ())
    aggs = step.aggs_dict
    missing = [c for c in [*by, *aggs] if c not in table.column_names]
    if missing:
        raise OperationError(f"groupby step {step.name!r}: columns {missing} not in input columns {table.column_names}")
    if d.world_size == 1:
        return kernel.groupby(table, by, aggs)
    partial = kernel.groupby_partial(table, by, aggs)
    return kernel.groupby_combine(shuffle(d, partial, by), by, aggs)


# -- sort ------------------------------------------------------------------------------------
def _sorted_with_tiebreak(d: Dist, table: pa.Table, by: list[str], ascending: list[bool]) -> pa.Table:
    """Stable local sort, plus (rank, original row) columns that make every key unique.

    Sorting by ``by`` stably is sorting by ``(by, rank, row)``: the permutation itself
    is the row column, so no wider sort is needed.
    """
    perm = kernel.sort_indices(table, by, ascending)
    local = table.take(perm)
    n = local.num_rows
    local = local.append_column(RANK_COL, pa.repeat(pa.scalar(d.rank, pa.int32()), n))
    return local.append_column(ROW_COL, perm.cast(pa.int64()))


def choose_splitters(samples: pa.Table, keys: Sequence[str], ascending: Sequence[bool], parts: int) -> pa.Table:
    """Pick ``parts - 1`` splitters from weighted samples (same result on every rank).

    :param samples: concatenated samples of every rank with a weight column.
    :param keys: full sort keys (tiebreakers included).
    :param ascending: direction per key.
    :param parts: number of output partitions.
    """
    if samples.num_rows == 0 or parts <= 1:
        return samples.select(list(keys)).slice(0, 0)
    ordered = kernel.sort(samples, list(keys), ascending=list(ascending))
    # numpy is not a runtime dependency (the Lambda image is pyarrow only)
    cumulative = pc.cumulative_sum(ordered.column(WEIGHT_COL)).to_pylist()
    total = float(cumulative[-1])
    picks: list[int] = []
    j = 0
    for i in range(1, parts):
        target = total * i / parts
        while j < len(cumulative) - 1 and cumulative[j] < target:
            j += 1
        picks.append(j)
    return ordered.select(list(keys)).take(pa.array(picks, pa.int64()))


def sort(d: Dist, table: pa.Table, step: StepSpec) -> pa.Table:
    """Distributed sort; rank r's result precedes rank r+1's. Stable; nulls last.

    :param d: this rank's handle.
    :param table: this rank's share.
    :param step: the step (``by``, ``ascending``).
    """
    by = list(step.by or ())
    ascending = list(step.ascending or [True] * len(by))
    missing = [c for c in by if c not in table.column_names]
    if missing:
        raise OperationError(f"sort step {step.name!r}: columns {missing} not in input columns {table.column_names}")
    if d.world_size == 1:
        return kernel.sort(table, by, ascending=ascending)
    keys = [*by, RANK_COL, ROW_COL]
    directions = [*ascending, True, True]
    local = _sorted_with_tiebreak(d, table, by, ascending)
    n = local.num_rows
    count = min(n, SAMPLES_PER_PARTITION * d.world_size)
    if count:
        sample = kernel.sample_splitters(local, keys, directions, count + 1).select(keys)
        weight = n / max(1, sample.num_rows)
        sample = sample.append_column(WEIGHT_COL, pa.repeat(pa.scalar(weight, pa.float64()), sample.num_rows))
    else:
        sample = local.select(keys).append_column(WEIGHT_COL, pa.array([], pa.float64()))
    gathered = _concat(allgather_table(d, sample), sample.schema)
    splitters = choose_splitters(gathered, keys, directions, d.world_size)
    parts = list(kernel.range_partition(local, keys, splitters, directions))
    parts += [local.slice(0, 0)] * (d.world_size - len(parts))
    # The tiebreakers need not travel: runs arrive in source-rank order and each is
    # in (key, row) order, so a stable merge on the user's keys alone reproduces the
    # (key, rank, row) order.
    parts = [p.drop_columns([RANK_COL, ROW_COL]) for p in parts]
    received = exchange(d, parts)
    runs = [r if r.schema.equals(parts[0].schema) else r.cast(parts[0].schema) for r in received]
    return kernel.merge_sorted(runs, by, ascending)


# -- positional ops ---------------------------------------------------------------------------
def _offsets(d: Dist, table: pa.Table) -> tuple[int, int]:
    counts = [int(c) for c in allgather_json(d, table.num_rows)]  # type: ignore[call-overload]
    return sum(counts[: d.rank]), sum(counts)


def slice_rows(d: Dist, table: pa.Table, offset: int, length: int | None) -> pa.Table:
    """Rows ``[offset, offset + length)`` of the distributed table (rank order, then local order).

    :param d: this rank's handle.
    :param table: this rank's share.
    :param offset: first global row.
    :param length: number of rows (``None`` = to the end).
    """
    start, total = _offsets(d, table)
    end = total if length is None else min(total, offset + length)
    lo = max(offset, start) - start
    hi = min(end, start + table.num_rows) - start
    return table.slice(lo, max(0, hi - lo)) if hi > lo else table.slice(0, 0)


def repartition(d: Dist, table: pa.Table, partitions: int | None = None) -> pa.Table:
    """Even out row counts across ranks, keeping the global order.

    :param d: this rank's handle.
    :param table: this rank's share.
    :param partitions: ranks that receive rows (all when ``None``); the others end empty.
    """
    if d.world_size == 1:
        return table
    p = min(partitions or d.world_size, d.world_size)
    start, total = _offsets(d, table)
    parts = []
    for dst in range(d.world_size):
        if dst >= p or total == 0:
            parts.append(table.slice(0, 0))
            continue
        lo, hi = dst * total // p, (dst + 1) * total // p
        a, b = max(lo, start) - start, min(hi, start + table.num_rows) - start
        parts.append(table.slice(a, b - a) if b > a else table.slice(0, 0))
    return _concat(exchange(d, parts), table.schema)


# -- steps -------------------------------------------------------------------------------------
def run_step(d: Dist, step: StepSpec, inputs: Sequence[pa.Table]) -> pa.Table:
    """Run one JobSpec step on this rank.

    :param d: this rank's handle.
    :param step: the step.
    :param inputs: this rank's share of each of the step's inputs; a join takes its
        inputs out of a ``list`` (so that they can be freed once shuffled).
    """
    started = time.perf_counter()
    if step.op == "join":
        out = join_owned(d, list(inputs) if not isinstance(inputs, list) else inputs, step)
    elif step.op in ("union", "intersect", "difference"):
        out = set_operation(d, step.op, inputs, step)
    elif step.op == "unique":
        out = unique(d, inputs[0], step)
    elif step.op == "groupby":
        out = groupby(d, inputs[0], step)
    elif step.op == "sort":
        out = sort(d, inputs[0], step)
    elif step.op == "repartition":
        out = repartition(d, inputs[0], step.partitions)
    elif step.op == "head":
        out = slice_rows(d, inputs[0], 0, step.n)
    elif step.op == "slice":
        out = slice_rows(d, inputs[0], step.offset, step.n)
    else:  # pragma: no cover - the spec validates op names
        raise OperationError(f"unknown step op {step.op!r}")
    d.stats.phases[f"step:{step.name}"] = time.perf_counter() - started
    log.info("%s step %s (%s): %d rows in %.3fs", d.tag, step.name, step.op, out.num_rows,
             time.perf_counter() - started)
    return out


def run_pipeline(d: Dist, steps: Sequence[StepSpec], step_inputs: Callable[[int], Sequence[str]],
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
