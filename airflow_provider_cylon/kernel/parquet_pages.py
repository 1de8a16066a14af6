"""Fixed-width Parquet pages decoded by the C++ kernel (native/src/parquet_decode.h).

The kernel parses page headers and decodes decompressed pages of one flat INT32 / INT64 /
FLOAT / DOUBLE column, materialising only the rows asked for (or, for a column whose data
pages are all dictionary-encoded, int32 indices into the chunks' dictionaries laid end to
end). Reading the file and decompressing pages (Arrow's codecs) is the caller's part:
:mod:`airflow_provider_cylon.runtime.column_chunks`.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import pyarrow as pa

from airflow_provider_cylon.kernel._native import _ext, imported, one_capsule

#: Parquet PageType values.
DATA_PAGE, INDEX_PAGE, DICTIONARY_PAGE, DATA_PAGE_V2 = 0, 1, 2, 3


class PageHeader(NamedTuple):
    """A page header as stored in front of its page (Parquet's PageHeader, flattened)."""

    kind: int
    header_bytes: int
    compressed_size: int
    uncompressed_size: int
    num_values: int
    encoding: int
    def_encoding: int
    num_nulls: int  #: data page v2 only (else -1)
    def_bytes: int  #: v2: definition levels' bytes, stored uncompressed
    rep_bytes: int  #: v2: repetition levels' bytes
    compressed: bool  #: v2: whether the values section is compressed


class Page(NamedTuple):
    """One page after decompression, as the kernel decodes it (buffers kept alive by the caller)."""

    kind: int
    encoding: int
    def_encoding: int
    num_values: int
    levels: pa.Buffer | None  #: v2: the definition levels; v1: None (they open the body)
    body: pa.Buffer
    v2: bool


def page_headers(chunk: pa.Buffer) -> list[PageHeader]:
    """The headers of the pages of one column chunk (its bytes from the first page on).

    :raises ValueError: the bytes are not Parquet pages.
    """
    return [PageHeader(*h) for h in _ext.parquet_page_headers(chunk.address, chunk.size)]


def _format(physical_width: int, arrow_type: pa.DataType) -> tuple[str, int]:
    """The Arrow C format the kernel writes and its bytes per value, before :meth:`pa.Array.view`."""
    if pa.types.is_decimal128(arrow_type):
        return f"d:{arrow_type.precision},{arrow_type.scale}", 16
    if pa.types.is_floating(arrow_type):
        return ("f" if physical_width == 4 else "g"), physical_width
    return ("i" if physical_width == 4 else "l"), physical_width


def decode(pages: Sequence[Page], num_rows: int, physical_width: int, arrow_type: pa.DataType, max_def: int,
           *, positions: pa.Array | None = None, as_dictionary: bool = False) -> pa.Array:
    """Decode ``pages`` (one column, its row groups in order) as ``arrow_type``.

    :param pages: decompressed pages.
    :param num_rows: rows the pages hold (the footer's count, checked).
    :param physical_width: 4 (INT32, FLOAT) or 8 (INT64, DOUBLE).
    :param arrow_type: the declared type: same-width integers, dates, floats, or decimal128
        (the integers sign-extended).
    :param max_def: 0 (required) or 1 (optional, nulls from the definition levels).
    :param positions: ascending int64 row positions to keep (default: every row).
    :param as_dictionary: a DictionaryArray (int32 indices) when every data page is
        dictionary-encoded.
    :raises ValueError: pages the kernel cannot decode (the caller reads the column otherwise).
    """
    fmt, out_width = _format(physical_width, arrow_type)
    listed = [(p.kind, p.encoding, p.def_encoding, p.num_values,
               p.levels.address if p.levels is not None else 0, p.levels.size if p.levels is not None else 0,
               p.body.address, p.body.size, p.v2) for p in pages]
    pos = one_capsule(positions, "positions") if positions is not None else None
    schema_cap, array_cap, dictionary = _ext.parquet_decode(listed, num_rows, physical_width, out_width, max_def,
                                                            as_dictionary, pos, fmt)
    def as_declared(arr: pa.Array) -> pa.Array:  # the physical type read as the declared one
        return arr if arr.type == arrow_type else arr.view(arrow_type)

    out = imported((schema_cap, array_cap))
    if dictionary is None:
        return as_declared(out)
    return pa.DictionaryArray.from_arrays(out, as_declared(imported(dictionary)), safe=False)  # indices checked

