"""Joins: the C++ hash join finds matching row pairs; Arrow's take builds columns.

SQL semantics (DuckDB is the reference): null keys never match; with ``on``
each key column appears once, coalesced from both sides (as ``USING``); with
``left_on``/``right_on`` both key columns are kept; other clashing names get
the suffixes.
"""
from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa
import pyarrow.compute as pc

from airflow_provider_cylon.kernel import _ext
from airflow_provider_cylon.kernel._native import (
    CylonKernelError,
    as_list,
    capsules,
    imported,
    is_binary_view,
    is_string_view,
    is_view,
    key_array,
    require_columns,
    take,
)

JOIN_TYPES = ("inner", "left", "right", "outer", "semi", "anti")


def common_key_type(lt: pa.DataType, rt: pa.DataType, lname: str, rname: str) -> pa.DataType | None:
    """The type both key columns are compared in, or None when they are already comparable."""
    if lt == rt:
        return None
    ints = pa.types.is_integer
    if ints(lt) and ints(rt):
        if pa.types.is_unsigned_integer(lt) and pa.types.is_unsigned_integer(rt):
            return pa.uint64()
        return pa.int64()
    if (ints(lt) or pa.types.is_floating(lt)) and (ints(rt) or pa.types.is_floating(rt)):
        return pa.float64()
    strings = (pa.types.is_string, pa.types.is_large_string, is_string_view)
    if any(f(lt) for f in strings) and any(f(rt) for f in strings):
        return None  # the kernel compares utf8 and large_utf8 bytes directly
    binaries = (pa.types.is_binary, pa.types.is_large_binary, is_binary_view)
    if any(f(lt) for f in binaries) and any(f(rt) for f in binaries):
        return None
    if pa.types.is_decimal(lt) or pa.types.is_decimal(rt):
        return common_decimal_type(lt, rt, lname, rname)
    if pa.types.is_timestamp(lt) and pa.types.is_timestamp(rt) and (lt.tz is None) == (rt.tz is None):
        units = ["s", "ms", "us", "ns"]
        return pa.timestamp(max(lt.unit, rt.unit, key=units.index), tz=lt.tz)
    if pa.types.is_dictionary(lt) or pa.types.is_dictionary(rt):
        lv = lt.value_type if pa.types.is_dictionary(lt) else lt
        rv = rt.value_type if pa.types.is_dictionary(rt) else rt
        return common_key_type(lv, rv, lname, rname) or (lv if lv == rv else None)
    raise CylonKernelError(
        f"join: key column {lname!r} of left has type {lt} and key column {rname!r} of right has "
        f"type {rt}; they cannot be compared"
    )


_INT_DIGITS = {8: 3, 16: 5, 32: 10, 64: 19}


def common_decimal_type(lt: pa.DataType, rt: pa.DataType, lname: str, rname: str) -> pa.DataType:
    """The decimal both keys are compared in (as DuckDB: enough integer and fraction digits for both)."""

    def digits(t: pa.DataType) -> tuple[int, int]:
        if pa.types.is_decimal(t):
            return t.precision - t.scale, t.scale
        if pa.types.is_integer(t):
            return _INT_DIGITS[t.bit_width], 0
        raise CylonKernelError(
            f"join: key column {lname!r} of left has type {lt} and key column {rname!r} of right has "
            f"type {rt}; they cannot be compared"
        )

    (li, ls), (ri, rs) = digits(lt), digits(rt)
    scale = max(ls, rs)
    precision = max(li, ri) + scale
    if precision <= 38:
        return pa.decimal128(precision, scale)
    if precision <= 76:
        return pa.decimal256(precision, scale)
    raise CylonKernelError(
        f"join: keys {lname!r} ({lt}) and {rname!r} ({rt}) need decimal({precision}, {scale}) to be "
        f"compared, over the 76 digits of decimal256"
    )


def prepared_keys(
    left: pa.Table, lkeys: list[str], right: pa.Table, rkeys: list[str]
) -> tuple[list[pa.Array], list[pa.Array]]:
    """Key arrays of both sides, cast pairwise to a comparable type."""
    larrs, rarrs = [], []
    for ln, rn in zip(lkeys, rkeys):
        la = key_array(left.column(ln), input_name="left", column_name=ln)
        ra = key_array(right.column(rn), input_name="right", column_name=rn)
        target = common_key_type(la.type, ra.type, ln, rn)
        if target is not None:
            la, ra = la.cast(target), ra.cast(target)
        larrs.append(la)
        rarrs.append(ra)
    return larrs, rarrs


def join(
    left: pa.Table,
    right: pa.Table,
    on: str | Sequence[str] | None = None,
    left_on: str | Sequence[str] | None = None,
    right_on: str | Sequence[str] | None = None,
    how: str = "inner",
    suffixes: tuple[str, str] = ("_x", "_y"),
) -> pa.Table:
    """Join two tables on key columns.

    :param left: left table.
    :param right: right table.
    :param on: key column name(s) present in both tables; output has each once (coalesced).
    :param left_on: key column name(s) of ``left`` (with ``right_on``); both sides' keys are kept.
    :param right_on: key column name(s) of ``right``.
    :param how: inner, left, right, outer, semi or anti.
    :param suffixes: appended to other column names present in both tables.
    :return: the joined table (semi/anti: rows of ``left``).
    """
    how = how.lower() if isinstance(how, str) else how
    if how == "full":
        how = "outer"
    if how not in JOIN_TYPES:
        raise CylonKernelError(f"join: how must be one of {', '.join(JOIN_TYPES)}; found {how!r}")
    using = on is not None
    if using:
        if left_on is not None or right_on is not None:
            raise CylonKernelError("join: give either on, or left_on and right_on, not both")
        lkeys = rkeys = as_list(on, what="on")
    else:
        lkeys, rkeys = as_list(left_on, what="left_on"), as_list(right_on, what="right_on")
        if not lkeys or len(lkeys) != len(rkeys):
            raise CylonKernelError(
                f"join: left_on and right_on must name the same number (>= 1) of columns; "
                f"found {lkeys} and {rkeys}"
            )
    if not lkeys:
        raise CylonKernelError("join: at least one key column is required")
    if len(suffixes) != 2:
        raise CylonKernelError(f"join: suffixes must be a pair of strings, found {suffixes!r}")
    require_columns(left, lkeys, input_name="left")
    require_columns(right, rkeys, input_name="right")

    larrs, rarrs = prepared_keys(left, lkeys, right, rkeys)
    lcaps, rcaps = _ext.hash_join(capsules(larrs, lkeys), capsules(rarrs, rkeys), how, False)
    # None: every left row once, in order (a fact table against unique dimension keys; a
    # semi join that keeps every row)
    if how in ("semi", "anti"):
        return left if lcaps is None else take(left, imported(lcaps))
    lidx = None if lcaps is None else imported(lcaps)
    ridx = imported(rcaps)
    return _materialise(left, right, lidx, ridx, lkeys, rkeys, larrs, rarrs, using, how, suffixes)


def _coalesce(col: pa.ChunkedArray, other: pa.ChunkedArray) -> pa.ChunkedArray:
    """The USING key of a non-inner join: the left value, else the right one."""
    if is_view(col.type):
        # Arrow's coalesce has no view kernel: large_string holds every view's bytes
        # exactly (no 2 GiB offset limit), so the round trip gives the same values.
        wide = pa.large_binary() if is_binary_view(col.type) else pa.large_string()
        return pc.coalesce(col.cast(wide), other.cast(wide)).cast(col.type)
    return pc.coalesce(col, other)


def _materialise(
    left: pa.Table,
    right: pa.Table,
    lidx: pa.Array | None,
    ridx: pa.Array,
    lkeys: list[str],
    rkeys: list[str],
    larrs: list[pa.Array],
    rarrs: list[pa.Array],
    using: bool,
    how: str,
    suffixes: tuple[str, str],
) -> pa.Table:
    rkeyset = set(rkeys) if using else set()
    left_names = list(left.column_names)
    right_names = [n for n in right.column_names if n not in rkeyset]
    lkeyset = set(lkeys) if using else set()
    clashes = (set(left_names) - lkeyset) & set(right_names)

    # Only the columns the output needs are gathered (each on the kernel's threads).
    # A USING key is COALESCE(left, right): in a left join that is always the left value
    # (a right row matches only an equal, non-null left key), so only right and outer
    # joins gather the right keys (join/int64/dups/left, 14.4M rows: one random gather less).
    need_right_keys = using and how in ("right", "outer")
    right_cols = right_names + ([k for k in rkeys] if need_right_keys else [])
    lt = left if lidx is None else take(left, lidx)
    rt = take(right.select(right_cols), ridx)

    names: list[str] = []
    columns: list[pa.ChunkedArray | pa.Array] = []
    for name in left_names:
        col = lt.column(name)
        out_name = name
        if using and name in lkeyset:
            k = lkeys.index(name)
            target = larrs[k].type
            if col.type != target:
                col = col.cast(target)
            if need_right_keys:
                other = rt.column(rkeys[k])
                if other.type != target:
                    other = other.cast(target)
                col = _coalesce(col, other)
        elif name in clashes:
            out_name = name + suffixes[0]
        names.append(out_name)
        columns.append(col)
    for name in right_names:
        names.append(name + suffixes[1] if name in clashes else name)
        columns.append(rt.column(name))
    if len(set(names)) != len(names):
        dup = sorted({n for n in names if names.count(n) > 1})
        raise CylonKernelError(
            f"join: output would have duplicate column names {dup}; choose other suffixes than {suffixes!r}"
        )
    return pa.table(columns, names=names)
