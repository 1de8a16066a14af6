"""Crossing into the C++ kernel: columns out as Arrow C capsules, results back in.

Key columns are normalised here once (chunks combined, dictionaries decoded)
so the C++ side sees one contiguous array per column; the crossing itself is
zero-copy (``__arrow_c_array__``). string_view / binary_view columns are read
natively, and gathered by the kernel (Arrow has no ``take`` for them).
"""
from __future__ import annotations

import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from airflow_provider_cylon.kernel import _ext

CylonKernelError = _ext.CylonError
"""Raised for bad kernel input; a ``ValueError`` naming the input, the column and the type."""

ROW_HASH_SEED: int = _ext.ROW_HASH_SEED

_KEY_TYPES_DOC = (
    "int8-int64, uint8-uint64, float32/64, bool, string, large_string, binary, large_binary, "
    "string_view, binary_view, decimal32/64/128/256, date32/64, time32/64, timestamp (any unit, tz), "
    "duration, dictionary<string>"
)


def is_key_type(t: pa.DataType) -> bool:
    """True when the kernel can hash, compare and sort values of type ``t``."""
    if pa.types.is_dictionary(t):
        return is_key_type(t.value_type)
    return (
        pa.types.is_integer(t)
        or (pa.types.is_floating(t) and not pa.types.is_float16(t))
        or pa.types.is_boolean(t)
        or pa.types.is_string(t)
        or pa.types.is_large_string(t)
        or pa.types.is_binary(t)
        or pa.types.is_large_binary(t)
        or pa.types.is_date(t)
        or pa.types.is_time(t)
        or pa.types.is_timestamp(t)
        or pa.types.is_duration(t)
        or pa.types.is_decimal(t)
        or is_view(t)
    )


def is_string_view(t: pa.DataType) -> bool:
    # By name: pyarrow < 16 has neither the type nor pa.types.is_string_view.
    return str(t) == "string_view"


def is_binary_view(t: pa.DataType) -> bool:
    return str(t) == "binary_view"


def is_view(t: pa.DataType) -> bool:
    """True for string_view / binary_view (no Arrow ``take`` kernel exists for them)."""
    return is_string_view(t) or is_binary_view(t)


def contiguous(column: pa.ChunkedArray | pa.Array) -> pa.Array:
    """One array for a column: chunks combined (a copy only when there are several)."""
    if isinstance(column, pa.ChunkedArray):
        if column.num_chunks == 1:
            return column.chunk(0)
        return column.combine_chunks() if column.num_chunks else pa.array([], type=column.type)
    return column


def key_array(column: pa.ChunkedArray | pa.Array, *, input_name: str, column_name: str) -> pa.Array:
    """The column as the kernel reads keys: contiguous and dictionary-decoded."""
    t = column.type
    if not is_key_type(t):
        raise CylonKernelError(
            f"{input_name}: column {column_name!r} has type {t}, which cannot be used as a key "
            f"(supported: {_KEY_TYPES_DOC})"
        )
    arr = contiguous(column)
    if pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_decode()
    return arr


def require_columns(table: pa.Table, names: Sequence[str], *, input_name: str) -> None:
    """Raise naming the input and the column when a column is missing."""
    present = set(table.column_names)
    for name in names:
        if name not in present:
            raise CylonKernelError(
                f"{input_name}: no column {name!r}; columns are {table.column_names}"
            )


def as_list(value: str | Sequence[str] | None, *, what: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    out = list(value)
    if not all(isinstance(v, str) for v in out):
        raise CylonKernelError(f"{what} must be a column name or a list of names, found {value!r}")
    return out


def capsules(arrays: Sequence[pa.Array], names: Sequence[str]) -> list[tuple[str, Any, Any]]:
    """(name, schema capsule, array capsule) per array, for the C++ side."""
    out = []
    for name, arr in zip(names, arrays):
        schema_cap, array_cap = arr.__arrow_c_array__()
        out.append((name, schema_cap, array_cap))
    return out


def key_capsules(table: pa.Table, names: Sequence[str], *, input_name: str) -> list[tuple[str, Any, Any]]:
    """Normalised key columns of ``table`` as capsules."""
    require_columns(table, names, input_name=input_name)
    arrays = [key_array(table.column(n), input_name=input_name, column_name=n) for n in names]
    return capsules(arrays, names)


def one_capsule(arr: pa.Array, name: str) -> tuple[str, Any, Any]:
    schema_cap, array_cap = arr.__arrow_c_array__()
    return (name, schema_cap, array_cap)


def imported(caps: tuple[Any, Any]) -> pa.Array:
    """A kernel result (schema capsule, array capsule) as a pyarrow Array (zero-copy)."""
    return pa.Array._import_from_c_capsule(caps[0], caps[1])


_PARALLEL_TAKE_MIN_ROWS = 1 << 20
_take_pool: ThreadPoolExecutor | None = None
_take_pool_threads = 0
_take_pool_lock = threading.Lock()


def _pool() -> ThreadPoolExecutor:
    global _take_pool, _take_pool_threads
    with _take_pool_lock:
        threads = _ext.num_threads()
        # Sized anew when CYLON_NUM_THREADS changed: a resident warm worker runs jobs of several sizes.
        if _take_pool is None or _take_pool_threads != threads:
            if _take_pool is not None:
                _take_pool.shutdown(wait=False)
            _take_pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="cylon-take")
            _take_pool_threads = threads
        return _take_pool


def take_array(column: pa.ChunkedArray | pa.Array, indices: pa.Array) -> pa.Array | pa.ChunkedArray:
    """Values of one column at ``indices`` (null index -> null); views are gathered by the kernel."""
    if is_view(column.type):
        return imported(_ext.gather_views(one_capsule(contiguous(column), "column"), one_capsule(indices, "indices")))
    return column.take(indices)


def mask_at_indices(indices: pa.Array, answers: pa.BooleanArray, on_null: bool) -> pa.BooleanArray:
    """``answers[indices[i]]`` per row (a null answer reads as False), ``on_null`` where the index
    is null: a condition decided once per dictionary value, as a row mask (Arrow's take of
    booleans cost 5x more a row)."""
    flags = pc.fill_null(answers, False).cast(pa.uint8())
    one_byte_each = bytes(flags.buffers()[1])[flags.offset:flags.offset + len(flags)]
    return imported(_ext.mask_at_indices(one_capsule(indices, "indices"), one_byte_each, on_null))


def take(table: pa.Table, indices: pa.Array) -> pa.Table:
    """Rows of ``table`` at ``indices`` (null index -> null row), gathered on the kernel's threads.

    Arrow's take is single-threaded and releases the GIL, so large gathers are
    split into one slice of ``indices`` per thread; the result's columns are
    chunked (one chunk per slice), which costs nothing downstream. View columns
    (string_view, binary_view) are gathered by the kernel: their 16-byte views
    are copied and the character buffers shared with the input.
    """
    if isinstance(indices, pa.ChunkedArray):
        indices = contiguous(indices)
    views = [i for i, f in enumerate(table.schema) if is_view(f.type)]
    if not views:
        return _take_plain(table, indices)
    plain = [i for i in range(table.num_columns) if i not in views]
    columns: dict[int, Any] = {i: take_array(table.column(i), indices) for i in views}
    if plain:
        gathered = _take_plain(table.select(plain), indices)
        columns.update(zip(plain, gathered.columns))
    return pa.table([columns[i] for i in range(table.num_columns)], schema=table.schema)


def _take_plain(table: pa.Table, indices: pa.Array) -> pa.Table:
    n = len(indices)
    threads = _ext.num_threads()
    if n < _PARALLEL_TAKE_MIN_ROWS or threads < 2 or table.num_columns == 0:
        return table.take(indices)
    step = -(-n // threads)
    parts = [indices.slice(i, step) for i in range(0, n, step)]
    return pa.concat_tables(list(_pool().map(table.take, parts)))


def slices(table: pa.Table, offsets: Sequence[int]) -> list[pa.Table]:
    """Zero-copy slices [offsets[i], offsets[i+1]) of ``table``."""
    return [table.slice(offsets[i], offsets[i + 1] - offsets[i]) for i in range(len(offsets) - 1)]
