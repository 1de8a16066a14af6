"""join: both sides shuffled by key hash, or the small side broadcast.

The small side is broadcast when it is under ``broadcast_threshold_bytes`` and the
join type allows it (right side for inner/left/semi/anti, left side for inner/right;
an outer join always shuffles: a broadcast side would be emitted once per rank).
A semi / anti join whose left keys are the smaller side sends those keys to every rank
instead and gathers which ones each rank's right rows match (``_small_left_marked``).
Semantics as SQL: null keys never match; with ``on`` each key appears once,
coalesced from both sides (as ``USING``); other clashing names get the suffixes.
"""
from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import pyarrow as pa
import pyarrow.compute as pc

from airflow_provider_cylon import kernel
from airflow_provider_cylon.kernel.join import common_key_type
from airflow_provider_cylon.runtime import fields as f
from airflow_provider_cylon.runtime.expr.expression import filter_table
from airflow_provider_cylon.runtime.ops.base import Columns, Step
from airflow_provider_cylon.runtime.ops.dist import (
    Dist,
    OperationError,
    allgather_json,
    allgather_table,
    concat,
    exchange,
    require_columns,
    shuffle,
)

log = logging.getLogger(__name__)

#: Row positions of the left keys sent to every rank by a semi / anti join (not a user column:
#: only the keys and this travel).
ROW = "__cylon_left_row"


def _positions(start: int, n: int) -> pa.Array:
    """``start, start + 1, ..., start + n - 1`` as int64."""
    return pc.add(pc.cumulative_sum(pa.repeat(pa.scalar(1, pa.int64()), n)), start - 1) if n else pa.array([], pa.int64())

JOIN_HOWS = ("inner", "left", "right", "outer", "semi", "anti")


def align_key_types(left: pa.Table, right: pa.Table, lk: Sequence[str], rk: Sequence[str],
                    what: str) -> tuple[pa.Table, pa.Table]:
    """Give paired key columns one type, so equal values hash (and partition) alike."""
    require_columns(left, lk, f"{what} (left input)")
    require_columns(right, rk, f"{what} (right input)")
    for a, b in zip(lk, rk):
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


@dataclass(frozen=True, kw_only=True)
class JoinStep(Step):
    """Join two inputs.

    :param on: key columns present on both sides (coalesced once, like SQL ``USING``).
    :param left_on: key columns of the left input (with ``right_on``).
    :param right_on: key columns of the right input.
    :param how: ``inner|left|right|outer|semi|anti``.
    :param suffixes: suffixes of clashing non-key columns.
    """

    op: ClassVar[str] = "join"
    arity: ClassVar[tuple[int, int | None]] = (2, 2)

    on: tuple[str, ...] | None = None
    left_on: tuple[str, ...] | None = None
    right_on: tuple[str, ...] | None = None
    how: str = "inner"
    suffixes: tuple[str, str] = ("_x", "_y")

    @classmethod
    def parse(cls, data: Mapping[str, Any], where: str) -> dict[str, Any]:
        suffixes = data.get("suffixes", ("_x", "_y"))
        if not isinstance(suffixes, (list, tuple)) or len(suffixes) != 2:
            raise f.fail(f"{where}.suffixes", f"expected two strings but found {suffixes!r}")
        return {
            "on": f.names(data.get("on"), f"{where}.on"),
            "left_on": f.names(data.get("left_on"), f"{where}.left_on"),
            "right_on": f.names(data.get("right_on"), f"{where}.right_on"),
            "how": f.string(data.get("how", "inner"), f"{where}.how"),
            "suffixes": (f.string(suffixes[0], f"{where}.suffixes[0]", allow_empty=True),
                         f.string(suffixes[1], f"{where}.suffixes[1]", allow_empty=True)),
        }

    def params_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = ({"on": list(self.on)} if self.on is not None
                               else {"left_on": list(self.left_on or ()), "right_on": list(self.right_on or ())})
        return {**out, "how": self.how, "suffixes": list(self.suffixes)}

    def check(self, where: str) -> None:
        f.choice(self.how, f"{where}.how", JOIN_HOWS)
        if self.on is not None and (self.left_on is not None or self.right_on is not None):
            raise f.fail(f"{where}.on", "give either on or left_on/right_on, not both")
        if self.on is None:
            if self.left_on is None or self.right_on is None:
                raise f.fail(f"{where}.on", "a join needs on, or both left_on and right_on")
            if len(self.left_on) != len(self.right_on):
                raise f.fail(f"{where}.right_on", f"expected {len(self.left_on)} keys like left_on "
                                                  f"{list(self.left_on)!r} but found {list(self.right_on)!r}")
        if self.suffixes[0] == self.suffixes[1]:
            raise f.fail(f"{where}.suffixes", f"expected two different suffixes but found {list(self.suffixes)!r}")

    @property
    def keys(self) -> tuple[list[str], list[str]]:
        return list(self.on or self.left_on or ()), list(self.on or self.right_on or ())

    def required_columns(self, needed: frozenset[str], schemas: Sequence[pa.Schema]) -> list[Columns]:
        lk, rk = self.keys
        if self.how in ("semi", "anti"):  # the rows of the left input, as they are
            return [needed | frozenset(lk), frozenset(rk)]
        left_names, right_names = list(schemas[0].names), list(schemas[1].names)
        lkeys, rkeys = (set(lk), set(rk)) if self.on is not None else (set(), set())
        # Clashes decide output names: a clashing column is kept on both sides when either
        # is needed, so the pruned join names its output exactly as the full one would.
        clashes = (set(left_names) - lkeys) & (set(right_names) - rkeys)
        left_need, right_need = set(lk), set(rk)
        for name in left_names:
            if (name + self.suffixes[0] if name in clashes else name) in needed:
                left_need.add(name)
        for name in right_names:
            if name not in rkeys and (name + self.suffixes[1] if name in clashes else name) in needed:
                right_need.add(name)
        for name in clashes & (left_need | right_need):
            left_need.add(name)
            right_need.add(name)
        return [frozenset(left_need), frozenset(right_need)]

    def _small_left_marked(self, d: Dist, left: pa.Table, right: pa.Table, lk: list[str],
                           rk: list[str]) -> pa.Table | None:
        """A semi / anti join whose left keys are the small side (under the broadcast threshold
        and smaller than the right's): every rank gets all left keys, marks those its own right
        rows match (the kernel builds on the left keys and streams the right rows), each mark
        goes to the rank that owns that left row, and each rank keeps its own left rows that
        some rank marked (semi) or none did (anti). The large right side is neither made distinct nor shuffled (TPC-H Q4: 28k
        orders a rank against 1.9M lineitem keys, where the distinct keys were 0.044 s and then
        11 MB shuffled). None when the left side is not the small one.
        """
        keys = left.select(lk)
        sizes = allgather_json(d, [keys.nbytes, left.num_rows, right.select(rk).nbytes])
        total_left = sum(int(s[0]) for s in sizes)  # type: ignore[index]
        total_right = sum(int(s[2]) for s in sizes)  # type: ignore[index]
        if total_left > d.broadcast_threshold_bytes or total_left >= total_right:
            return None
        log.info("%s join %s: left keys to every rank, marked there (%d bytes)", d.tag, self.name, total_left)
        every = concat(allgather_table(d, keys), keys.schema)
        every = every.append_column(ROW, _positions(0, every.num_rows))
        try:
            hits = kernel.join(every, right.select(rk), left_on=lk, right_on=rk, how="semi").select([ROW])
        except kernel.CylonKernelError as err:
            raise OperationError(f"{self.what}: {err}") from err
        # Each mark goes only to the rank that owns that left row (all_to_all, not an allgather:
        # a rank receives at most W x its own rows, however many ranks there are).
        starts = [0]
        for s in sizes:
            starts.append(starts[-1] + int(s[1]))  # type: ignore[index]
        splitters = pa.table({ROW: pa.array([start - 1 for start in starts[1:-1]], pa.int64())})
        parts = kernel.range_partition(hits, ROW, splitters)
        marked = concat(exchange(d, parts), hits.schema).column(ROW)
        mask = pc.is_in(_positions(starts[d.rank], left.num_rows), value_set=marked.combine_chunks())
        return filter_table(left, mask if self.how == "semi" else pc.invert(mask))

    def run(self, d: Dist, tables: list[pa.Table]) -> pa.Table:
        # A worker's inputs are its largest buffers; taken out of the caller's list and
        # freed after their shuffle, their memory serves the exchange and the join's
        # output instead of fresh pages (which a new process pays for in page faults).
        left, right = tables.pop(0), tables.pop(0)
        lk, rk = self.keys
        left, right = align_key_types(left, right, lk, rk, self.what)
        if self.how in ("semi", "anti"):
            if d.world_size > 1:
                kept = self._small_left_marked(d, left, right, lk, rk)
                if kept is not None:
                    return kept
            # Only whether a key exists on the right matters: its distinct keys are all that
            # travel and all the build side holds (TPC-H Q4: 3.8M lineitem keys -> 1.4M).
            right = kernel.unique(right.select(rk))

        def local(a: pa.Table, b: pa.Table) -> pa.Table:
            try:
                if self.on is not None:
                    return kernel.join(a, b, on=lk, how=self.how, suffixes=self.suffixes)
                return kernel.join(a, b, left_on=lk, right_on=rk, how=self.how, suffixes=self.suffixes)
            except kernel.CylonKernelError as err:
                raise OperationError(f"{self.what}: {err}") from err

        if d.world_size == 1:
            return local(left, right)
        sizes = allgather_json(d, [left.nbytes, right.nbytes])
        total_left = sum(int(s[0]) for s in sizes)  # type: ignore[index]
        total_right = sum(int(s[1]) for s in sizes)  # type: ignore[index]
        threshold = d.broadcast_threshold_bytes
        if self.how in ("inner", "left", "semi", "anti") and total_right <= threshold and total_right <= total_left:
            log.info("%s join %s: broadcasting right side (%d bytes)", d.tag, self.name, total_right)
            right = concat(allgather_table(d, right), right.schema)
            return local(left, right)
        if self.how in ("inner", "right") and total_left <= threshold:
            log.info("%s join %s: broadcasting left side (%d bytes)", d.tag, self.name, total_left)
            left = concat(allgather_table(d, left), left.schema)
            return local(left, right)
        log.info("%s join %s: shuffling both sides (%d + %d bytes)", d.tag, self.name, total_left, total_right)
        left = shuffle(d, left, lk)  # rebinding frees this rank's unshuffled left share
        right = shuffle(d, right, rk)
        return local(left, right)
