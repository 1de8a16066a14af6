"""Group-by with mergeable partial states, for one-pass and two-phase aggregation.

``groupby(t) == groupby_combine(groupby_partial(t))``, and ``groupby_combine``
accepts the concatenation of partials from many workers (in rank order), which
is how the distributed group-by aggregates: partial -> shuffle by key -> combine.

Semantics (as DuckDB): null is a group of its own; count/min/max/sum/mean/var/
std/nunique skip null values; var and std are the sample versions (var_samp);
first/last are the first/last value in input order, nulls included; any_value
is the first non-null value. An empty ``by`` is a global aggregate (SQL
without GROUP BY): one output row, even for an empty input (count 0, the
others null). Decimals sum exactly into decimal(38, s) (an overflow raises),
and their mean is a float64 rounded as DuckDB's avg. Output columns are named
``{col}_{agg}``; partial states ``{col}__{agg}__{state}``.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from airflow_provider_cylon.kernel import _ext
from airflow_provider_cylon.kernel._native import (
    CylonKernelError,
    as_list,
    capsules,
    contiguous,
    imported,
    is_key_type,
    key_array,
    one_capsule,
    require_columns,
    take_array,
)

AGGREGATIONS = ("sum", "count", "min", "max", "mean", "var", "std", "nunique", "first", "last", "any_value")
NUMERIC_AGGREGATIONS = ("sum", "mean", "var", "std")

AggSpec = list[tuple[str, str]]


def normalize_aggs(table: pa.Table, by: list[str], aggs: Mapping[str, str | Sequence[str]]) -> AggSpec:
    """(column, aggregation) pairs, validated against ``table``'s schema."""
    if not isinstance(aggs, Mapping):
        raise CylonKernelError(f"groupby: aggs must be a dict {{column: agg or [aggs]}}, found {aggs!r}")
    specs: AggSpec = []
    for col, ops in aggs.items():
        for op in as_list(ops, what=f"aggs[{col!r}]"):
            if op not in AGGREGATIONS:
                raise CylonKernelError(
                    f"groupby: unknown aggregation {op!r} for column {col!r}; supported: {', '.join(AGGREGATIONS)}"
                )
            specs.append((col, op))
    return specs


def _check_value_column(table: pa.Table, col: str, op: str, *, input_name: str) -> None:
    if col not in table.column_names:
        raise CylonKernelError(f"{input_name}: no column {col!r} to aggregate; columns are {table.column_names}")
    t = table.schema.field(col).type
    if op in NUMERIC_AGGREGATIONS and not (
        pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t) or pa.types.is_decimal(t)
    ) or (op in NUMERIC_AGGREGATIONS and pa.types.is_float16(t)):
        raise CylonKernelError(f"groupby: {op} of column {col!r} needs a numeric column, found {t}")
    if op in ("sum", "mean") and pa.types.is_decimal(t) and t.scale > 38:
        raise CylonKernelError(
            f"groupby: {op} of column {col!r} ({t}) needs a scale of at most 38 (the sum is decimal(38, scale))"
        )
    if op in ("min", "max", "nunique"):
        key_array(table.column(col).slice(0, 0), input_name=input_name, column_name=col)


class _Groups:
    """Dense group ids of a table's key columns and the first row of each group."""

    def __init__(self, table: pa.Table, by: list[str], *, input_name: str) -> None:
        self._memo: dict[tuple[Any, ...], Any] = {}
        #: value columns whose min and max are both wanted (found together, see take_extreme)
        self.paired_extremes: set[str] = set()
        self.rows_in = table.num_rows
        self._ids: pa.Int64Array | None = None
        if not by:
            # A global aggregate: one group, even over no rows (SQL without GROUP BY). The
            # kernel reads empty ids with one group as "every row in group 0".
            self.is_global = True
            self.first: pa.Int64Array = pa.array([], pa.int64())
            self.count = 1
            return
        self.is_global = False
        # Group order is free in a group-by, so the partitioned (unordered) path may be used.
        gid_caps, first_caps, self.count = _ext.group_ids(_group_keys(table, by, input_name), True, False)
        self._ids = imported(gid_caps)
        self.first = imported(first_caps)

    @property
    def ids(self) -> pa.Int64Array:
        """Group id per row (built only on demand for a global aggregate)."""
        if self._ids is None:
            self._ids = pa.repeat(pa.scalar(0, pa.int64()), self.rows_in)
        return self._ids

    def sizes(self) -> pa.Int64Array:
        """Rows per group."""
        if self.is_global:
            return pa.array([self.rows_in], pa.int64())
        return self.array("count", self.ids, "__group_id")

    def aggregate(self, op: str, values: pa.Array, name: str) -> Any:
        # One call computes an aggregate once (mean reuses sum and count) — keyed by
        # the array's buffers, so the same column under another wrapper hits too.
        key = (op, name, values.type, tuple(b.address if b is not None else 0 for b in values.buffers()),
               values.offset, len(values))
        if key not in self._memo:
            out = _ext.aggregate(self.ids_capsule(), self.count, op, one_capsule(values, name))
            # One result is (schema, array) capsules; several are a tuple of those. The
            # entry keeps ``values`` alive, so no other array can reuse its addresses.
            self._memo[key] = (values, tuple(imported(c) for c in out) if isinstance(out[0], tuple) else imported(out))
        return self._memo[key][1]

    def ids_capsule(self) -> tuple[str, Any, Any]:
        return one_capsule(pa.array([], pa.int64()) if self.is_global else self.ids, "__group_id")

    def array(self, op: str, values: pa.Array, name: str) -> pa.Array:
        return self.aggregate(op, values, name)

    def rows(self, op: str) -> pa.Int64Array:
        """first_row / last_row per group."""
        if self.is_global:
            row = None if self.rows_in == 0 else (0 if op == "first_row" else self.rows_in - 1)
            return pa.array([row], pa.int64())
        return self.array(op, self.ids, "__group_id")

    def pick(self, values: pa.Array, name: str, op: str) -> pa.Array:
        """first / last (nulls included) or any_value (first non-null) of each group."""
        if op == "any_value":
            return take_array(values, self.array("first_valid_row", values, name))
        return take_array(values, self.rows("first_row" if op == "first" else "last_row"))

    def sum(self, values: pa.Array, name: str, *, state: bool = False) -> pa.Array:
        """Sum per group; ``state``: a two-phase state (a decimal may pass 38 digits, not 128 bits)."""
        t = values.type
        if pa.types.is_decimal(t):
            return self.array("sum_decimal_state" if state else "sum_decimal", values, name)
        if pa.types.is_floating(t):
            return self.array("sum_double", values, name)
        if pa.types.is_unsigned_integer(t):
            return self.array("sum_unsigned", values, name)
        return self.array("sum_signed", values, name)

    def mean(self, values: pa.Array, name: str) -> pa.Array:
        if pa.types.is_decimal(values.type):
            return _decimal_mean(self.sum(values, name), _count(self, values, name), values.type.scale)
        return _mean(self.array("sum_double", values, name), _count(self, values, name))

    def moments(self, values: pa.Array, name: str) -> tuple[pa.Array, pa.Array, pa.Array]:
        if pa.types.is_decimal(values.type):
            values = values.cast(pa.float64())  # as DuckDB's var_samp(decimal): over doubles
        n, mean, m2 = self.aggregate("moments", values, name)
        return n, mean, m2

    def take_extreme(self, values: pa.Array, name: str, op: str) -> pa.Array:
        decoded = key_array(values, input_name="table", column_name=name)
        if name in self.paired_extremes:
            # min and max of one column asked together: one pass finds both (the second call hits the memo)
            rows = self.aggregate("argminmax", decoded, name)[0 if op == "min" else 1]
        else:
            rows = self.array("argmin" if op == "min" else "argmax", decoded, name)
        return take_array(values, rows)

    def distinct_counts(self, values: pa.Array, name: str) -> tuple[pa.Array, pa.Array]:
        decoded = key_array(values, input_name="table", column_name=name)
        counts, rows = self.aggregate("count_distinct", decoded, name)
        return counts, rows


def _group_keys(table: pa.Table, by: list[str], input_name: str) -> list[tuple[str, Any, Any]]:
    """Key capsules for grouping: a dictionary column whose values are distinct and
    non-null groups by its indices (a small integer range: the direct-indexed path),
    without decoding; any other column as every op reads keys."""
    require_columns(table, by, input_name=input_name)
    arrays = []
    for name in by:
        column = table.column(name)
        if pa.types.is_dictionary(column.type) and is_key_type(column.type):
            arr = contiguous(column)
            values = arr.dictionary
            # distinct values: counted by the kernel's own grouping (95k strings: 2.3 ms, where
            # pc.count_distinct took 17 ms, more than the whole group-by)
            if values.null_count == 0 and _ext.group_ids(capsules([values], [name]), True, False)[2] == len(values):
                arrays.append(arr.indices)
                continue
        arrays.append(key_array(column, input_name=input_name, column_name=name))
    return capsules(arrays, by)


def _finish_var(n: pa.Array, m2: pa.Array, std: bool) -> pa.Array:
    n_f = pc.cast(n, pa.float64())
    denom = pc.subtract(n_f, 1.0)
    var = pc.if_else(pc.greater(n, 1), pc.divide(m2, denom), pa.scalar(None, pa.float64()))
    return pc.sqrt(var) if std else var


def _decimal_mean(total: pa.Array, n: pa.Array, scale: int) -> pa.Array:
    return imported(_ext.decimal_mean(one_capsule(total, "sum"), one_capsule(n, "count"), scale))


def _mean(total: pa.Array, n: pa.Array) -> pa.Array:
    return pc.if_else(pc.greater(n, 0), pc.divide(pc.cast(total, pa.float64()), pc.cast(n, pa.float64())),
                      pa.scalar(None, pa.float64()))


def _prepare(table: pa.Table, by: str | Sequence[str], aggs: Mapping[str, Any], input_name: str) -> tuple[list[str], AggSpec]:
    keys = as_list(by, what="by")
    specs = normalize_aggs(table, keys, aggs)
    return keys, specs


def _start(
    table: pa.Table, by: str | Sequence[str], aggs: Mapping[str, Any]
) -> tuple[_Groups, AggSpec, list[str], list[pa.Array | pa.ChunkedArray]]:
    """Validated aggregations, the groups of ``table``, and its key columns (one row per group)."""
    keys, specs = _prepare(table, by, aggs, "table")
    for col, op in specs:
        _check_value_column(table, col, op, input_name="table")
    groups = _Groups(table, keys, input_name="table")
    groups.paired_extremes = {col for col, op in specs if op == "min"} & {col for col, op in specs if op == "max"}
    columns: list[pa.Array | pa.ChunkedArray] = [take_array(table.column(k), groups.first) for k in keys]
    return groups, specs, list(keys), columns


def groupby(table: pa.Table, by: str | Sequence[str], aggs: Mapping[str, str | Sequence[str]]) -> pa.Table:
    """Aggregate ``table`` per distinct value of ``by``.

    :param table: input table.
    :param by: key column name(s); nulls form a group. Empty: one group of all
        rows (a global aggregate; one output row even for an empty table).
    :param aggs: ``{column: agg or [aggs]}`` with aggs from sum, count, min, max,
        mean, var, std, nunique, first, last, any_value.
    :return: key columns, then ``{col}_{agg}`` per aggregation.
    """
    groups, specs, names, columns = _start(table, by, aggs)
    for col, op in specs:
        values = contiguous(table.column(col))
        names.append(f"{col}_{op}")
        columns.append(_direct(groups, values, col, op))
    return pa.table(columns, names=names)


def _direct(groups: _Groups, values: pa.Array, col: str, op: str) -> pa.Array:
    if op == "sum":
        return groups.sum(values, col)
    if op == "count":
        return _count(groups, values, col)
    if op in ("min", "max"):
        return groups.take_extreme(values, col, op)
    if op == "mean":
        return groups.mean(values, col)
    if op in ("var", "std"):
        n, _, m2 = groups.moments(values, col)
        return _finish_var(n, m2, op == "std")
    if op == "nunique":
        return groups.distinct_counts(values, col)[0]
    return groups.pick(values, col, op)


def _count(groups: _Groups, values: pa.Array, col: str) -> pa.Array:
    if values.null_count == 0:
        return groups.sizes()  # counted once
    if is_key_type(values.type) and not pa.types.is_dictionary(values.type):
        return groups.array("count", values, col)  # the kernel reads the validity bitmap
    return groups.array("sum_signed", pc.is_valid(values), col).fill_null(0)


def _state(col: str, op: str, state: str) -> str:
    return f"{col}__{op}__{state}"


def groupby_partial(table: pa.Table, by: str | Sequence[str], aggs: Mapping[str, str | Sequence[str]]) -> pa.Table:
    """Per-group partial states of ``aggs`` over ``table`` (phase one of a distributed group-by).

    :param table: one worker's rows.
    :param by: key column name(s); empty for a global aggregate (one state row,
        none for an empty table: the combine's one row then counts 0).
    :param aggs: as for :func:`groupby`.
    :return: key columns, then state columns ``{col}__{agg}__{state}``.
    """
    groups, specs, names, columns = _start(table, by, aggs)
    if not names and table.num_rows == 0:
        return _empty_partial(table, aggs)

    def add(col: str, op: str, state: str, arr: pa.Array) -> None:
        names.append(_state(col, op, state))
        columns.append(arr)

    for col, op in specs:
        values = contiguous(table.column(col))
        if op == "sum":
            add(col, op, "sum", groups.sum(values, col, state=True))
        elif op == "count":
            add(col, op, "count", _count(groups, values, col))
        elif op in ("min", "max"):
            add(col, op, "value", groups.take_extreme(values, col, op))
        elif op == "mean":
            add(col, op, "sum", groups.sum(values, col, state=True) if pa.types.is_decimal(values.type)
                else groups.array("sum_double", values, col))
            add(col, op, "count", _count(groups, values, col))
        elif op in ("var", "std"):
            n, mean, m2 = groups.moments(values, col)
            add(col, op, "count", n)
            add(col, op, "mean", mean)
            add(col, op, "m2", m2)
        elif op == "nunique":
            add(col, op, "values", _distinct_lists(groups, values, col))
        else:
            add(col, op, "value", groups.pick(values, col, op))
    return pa.table(columns, names=names)


def _empty_partial(table: pa.Table, aggs: Mapping[str, str | Sequence[str]]) -> pa.Table:
    """No state rows for a global aggregate over no rows (the combine still makes its one row),
    typed as the states of one all-null row are."""
    one = pa.table([pa.nulls(1, f.type) for f in table.schema], schema=table.schema)
    return groupby_partial(one, [], aggs).slice(0, 0)


def _distinct_lists(groups: _Groups, values: pa.Array, col: str) -> pa.Array:
    """Per group, the list of its distinct non-null values."""
    counts, pair_rows = groups.distinct_counts(values, col)
    pair_groups = groups.ids.take(pair_rows)
    order = imported(_ext.argsort([one_capsule(pair_groups, "__group_id")], [True]))
    flat = take_array(values, pair_rows.take(order))
    offsets = pa.array([0], pa.int64()) if len(counts) == 0 else pc.cumulative_sum(
        pa.concat_arrays([pa.array([0], pa.int64()), counts])
    )
    list_type = pa.large_list(flat.type)
    return pa.LargeListArray.from_arrays(pc.cast(offsets, pa.int64()), flat, type=list_type)


def groupby_combine(
    partials: pa.Table | Sequence[pa.Table],
    by: str | Sequence[str],
    aggs: Mapping[str, str | Sequence[str]],
) -> pa.Table:
    """Final result from partial states (phase two of a distributed group-by).

    :param partials: output(s) of :func:`groupby_partial`, concatenated in rank order.
    :param by: key column name(s).
    :param aggs: the same aggregations given to :func:`groupby_partial`.
    """
    table = partials if isinstance(partials, pa.Table) else pa.concat_tables(list(partials))
    keys, specs = _prepare(table, by, aggs, "partials")
    for col, op in specs:
        for state in _states_of(op):
            if _state(col, op, state) not in table.column_names:
                raise CylonKernelError(
                    f"groupby_combine: partials lack state column {_state(col, op, state)!r} "
                    f"(were they made by groupby_partial with the same aggs?)"
                )
    groups = _Groups(table, keys, input_name="partials")
    names = list(keys)
    columns: list[pa.Array | pa.ChunkedArray] = [take_array(table.column(k), groups.first) for k in keys]
    for col, op in specs:
        s = {state: contiguous(table.column(_state(col, op, state))) for state in _states_of(op)}
        names.append(f"{col}_{op}")
        if op == "sum":
            columns.append(groups.sum(s["sum"], col))
        elif op == "count":
            columns.append(groups.array("sum_signed", s["count"], col).fill_null(0))
        elif op in ("min", "max"):
            columns.append(groups.take_extreme(s["value"], col, op))
        elif op == "mean":
            n = groups.array("sum_signed", s["count"], col).fill_null(0)
            if pa.types.is_decimal(s["sum"].type):
                columns.append(_decimal_mean(groups.sum(s["sum"], col), n, s["sum"].type.scale))
            else:
                columns.append(_mean(groups.array("sum_double", s["sum"], col), n))
        elif op in ("var", "std"):
            n_c, mean_c, m2_c = _ext.merge_moments(
                groups.ids_capsule(), groups.count,
                one_capsule(s["count"], col), one_capsule(s["mean"], col), one_capsule(s["m2"], col),
            )
            columns.append(_finish_var(imported(n_c), imported(m2_c), op == "std"))
        elif op == "nunique":
            lists = s["values"]
            flat = lists.flatten()
            parents = pc.list_parent_indices(lists)
            value_groups = groups.ids.take(parents)
            sub = _SubGroups(value_groups, groups.count)
            columns.append(sub.distinct_count(flat, col))
        else:
            columns.append(groups.pick(s["value"], col, op))
    return pa.table(columns, names=names)


class _SubGroups:
    """Group ids given directly (values of exploded lists)."""

    def __init__(self, ids: pa.Int64Array, count: int) -> None:
        self.ids = ids
        self.count = count

    def distinct_count(self, values: pa.Array, name: str) -> pa.Array:
        decoded = key_array(values, input_name="partials", column_name=name)
        counts, _ = _ext.aggregate(one_capsule(self.ids, "__group_id"), self.count, "count_distinct",
                                   one_capsule(decoded, name))
        return imported(counts)


def _states_of(op: str) -> tuple[str, ...]:
    return {
        "sum": ("sum",),
        "count": ("count",),
        "min": ("value",),
        "max": ("value",),
        "mean": ("sum", "count"),
        "var": ("count", "mean", "m2"),
        "std": ("count", "mean", "m2"),
        "nunique": ("values",),
        "first": ("value",),
        "last": ("value",),
        "any_value": ("value",),
    }[op]
