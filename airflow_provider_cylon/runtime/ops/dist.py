"""Dist: one rank's handle for distributed steps, and the exchanges they are built from.

Every step runs on every rank at once (SPMD) with that rank's share of the data
and returns that rank's share of the result. Every rank calls the same exchanges
in the same order: each is one channel ``all_to_all``.
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import pyarrow as pa

from airflow_provider_cylon import kernel
from airflow_provider_cylon.runtime.context import WorkerStats
from airflow_provider_cylon.runtime.errors import CylonRuntimeError
from airflow_provider_cylon.runtime.ops.compact_views import compact_views


class OperationError(CylonRuntimeError, ValueError):
    """A distributed operation cannot run on these inputs (names the step and the columns)."""


class Channel(Protocol):
    """What steps need from a channel (runtime/channels implements it)."""

    def all_to_all(self, parts: Sequence[pa.Table]) -> list[pa.Table]: ...


@dataclass
class Dist:
    """One rank's handle for distributed steps.

    :param channel: the all_to_all transport (unused when ``world_size`` is 1).
    :param rank: this rank.
    :param world_size: number of ranks.
    :param stats: counters (bytes shuffled, shuffles, per-step figures).
    :param broadcast_threshold_bytes: join sides smaller than this are broadcast.
    :param job_id: for log lines.
    """

    channel: Channel | None
    rank: int
    world_size: int
    stats: WorkerStats = field(default_factory=WorkerStats)
    broadcast_threshold_bytes: int = 8 * 1024 * 1024
    job_id: str = "-"

    @property
    def tag(self) -> str:
        return f"job_id={self.job_id} rank={self.rank}"


#: A single rank with no peers: what schema derivation runs steps on (empty tables).
def solo() -> Dist:
    """A one-rank handle (no channel): runs a step locally, e.g. on empty tables for its schema."""
    return Dist(channel=None, rank=0, world_size=1)


def concat(tables: Sequence[pa.Table], schema: pa.Schema | None = None) -> pa.Table:
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
    assert d.channel is not None
    parts = [p if i == d.rank else compact_views(p) for i, p in enumerate(parts)]
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
    return concat(exchange(d, parts), table.schema)


def gather_to_root(d: Dist, table: pa.Table) -> list[pa.Table]:
    """Every rank's ``table`` on rank 0 (indexed by rank); other ranks get ``[]``.

    :param d: this rank's handle.
    :param table: this rank's table.
    """
    if d.world_size == 1:
        return [table]
    empty = table.slice(0, 0)
    received = exchange(d, [table if dst == 0 else empty for dst in range(d.world_size)])
    return received if d.rank == 0 else []


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


def require_columns(table_or_schema: pa.Table | pa.Schema, columns: Sequence[str], what: str) -> None:
    """Raise naming the step, the missing columns and the closest existing names."""
    from airflow_provider_cylon.runtime.fields import closest

    available = list(table_or_schema.names if isinstance(table_or_schema, pa.Schema)
                     else table_or_schema.column_names)
    missing = [c for c in columns if c not in available]
    if missing:
        hint = closest(missing[0], available)
        raise OperationError(f"{what}: columns {missing} not in input columns {available}{hint}")
