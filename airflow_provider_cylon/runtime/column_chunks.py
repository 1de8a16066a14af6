"""Flat fixed-width Parquet columns read by the kernel's page decoder, only at the rows wanted.

Which columns qualify (:func:`native_columns`): flat (no repetition, at most one
definition level), INT32 / INT64 / FLOAT / DOUBLE stored, declared as the same-width
integer, date32, float, or a decimal128 stored in integers, compressed with a codec Arrow
has (snappy, zstd, gzip, or none). Everything else is read by Arrow as before. A chunk the
kernel turns down (an encoding it does not read, such as DELTA_BINARY_PACKED, or bytes that
are not what the footer says) raises :class:`NotDecodable`, and the caller reads that
column with Arrow instead.

The column chunks' bytes come from the open file (a local file is memory-mapped, so no
copy); each page is decompressed with :class:`pyarrow.Codec` and handed to the kernel.
"""
from __future__ import annotations

import functools
import json
from collections.abc import Sequence

import pyarrow as pa
import pyarrow.parquet as pq

from airflow_provider_cylon.kernel import parquet_pages
from airflow_provider_cylon.kernel.parquet_pages import DATA_PAGE_V2, Page

#: Parquet codec name (as pyarrow's metadata spells it) -> pyarrow.Codec name; None: stored as is.
_CODECS: dict[str, str | None] = {"UNCOMPRESSED": None, "SNAPPY": "snappy", "ZSTD": "zstd", "GZIP": "gzip"}
_WIDTHS = {"INT32": 4, "INT64": 8, "FLOAT": 4, "DOUBLE": 8}


class NotDecodable(Exception):
    """The kernel cannot decode this column chunk; read it with Arrow."""


@functools.lru_cache(maxsize=None)
def _codec(name: str) -> pa.Codec:
    return pa.Codec(name)


def _declared_fits(column: pq.ColumnSchema, arrow_type: pa.DataType) -> bool:
    """Whether the stored values, as they are, are ``arrow_type``'s values (no unit or width change)."""
    physical, logical = column.physical_type, column.logical_type.type
    if pa.types.is_decimal128(arrow_type):
        if physical not in ("INT32", "INT64") or logical != "DECIMAL":
            return False
        stored = json.loads(column.logical_type.to_json())
        return (arrow_type.precision, arrow_type.scale) == (stored.get("precision"), stored.get("scale"))
    if arrow_type == pa.int32():
        return physical == "INT32" and logical in ("NONE", "INT") and column.converted_type in ("NONE", "INT_32")
    if arrow_type == pa.int64():
        return physical == "INT64" and logical in ("NONE", "INT") and column.converted_type in ("NONE", "INT_64")
    if arrow_type == pa.date32():
        return physical == "INT32" and logical == "DATE"
    if arrow_type == pa.float32():
        return physical == "FLOAT"
    if arrow_type == pa.float64():
        return physical == "DOUBLE"
    return False


def column_index(metadata: pq.FileMetaData) -> dict[str, int]:
    """Each flat column's position in the footer, by name (its path)."""
    return {metadata.schema.column(i).path: i for i in range(metadata.num_columns)}


def native_columns(metadata: pq.FileMetaData, schema: pa.Schema, groups: Sequence[int],
                   columns: Sequence[str] | None) -> list[str]:
    """The columns among ``columns`` (None: all) that the kernel decodes in row groups ``groups``.

    :param metadata: the file's footer.
    :param schema: the file's Arrow schema (the declared types).
    :param groups: the row groups to be read.
    :param columns: the columns to be read.
    """
    index = column_index(metadata)
    chosen = []
    for name in (schema.names if columns is None else columns):
        i = index.get(name)
        if i is None or name not in schema.names:
            continue
        column = metadata.schema.column(i)
        if column.max_repetition_level != 0 or column.max_definition_level > 1:
            continue
        if not _declared_fits(column, schema.field(name).type):
            continue
        if all(metadata.row_group(g).column(i).compression in _CODECS for g in groups):
            chosen.append(name)
    return chosen


def _pages(source: pa.NativeFile, chunk: pq.ColumnChunkMetaData) -> list[Page]:
    """The decompressed pages of one column chunk."""
    starts = [o for o in (chunk.dictionary_page_offset if chunk.has_dictionary_page else None,
                          chunk.data_page_offset) if o]
    start = min(starts) if starts else chunk.data_page_offset
    source.seek(start)
    raw = source.read_buffer(chunk.total_compressed_size)  # zero-copy from a memory map
    codec_name = _CODECS[chunk.compression]
    pages: list[Page] = []
    at = 0
    try:
        headers = parquet_pages.page_headers(raw)
    except ValueError as err:
        raise NotDecodable(str(err)) from err
    for h in headers:
        stored = raw.slice(at + h.header_bytes, h.compressed_size)
        at += h.header_bytes + h.compressed_size
        levels = None
        if h.kind == DATA_PAGE_V2:  # levels first, never compressed; then the values
            split = h.def_bytes + h.rep_bytes
            if h.rep_bytes or split > h.compressed_size:
                raise NotDecodable("repetition levels in a flat column")
            levels, stored = stored.slice(0, h.def_bytes), stored.slice(split)
            size = h.uncompressed_size - split
            body = _codec(codec_name).decompress(stored, size) if codec_name and h.compressed and size else stored
        else:
            size = h.uncompressed_size
            body = _codec(codec_name).decompress(stored, size) if codec_name and size else stored
        pages.append(Page(h.kind, h.encoding, h.def_encoding, h.num_values, levels, body, h.kind == DATA_PAGE_V2))
    return pages


def read_column(source: pa.NativeFile, metadata: pq.FileMetaData, groups: Sequence[int], name: str,
                arrow_type: pa.DataType, *, positions: pa.Array | None = None,
                as_dictionary: bool = False) -> pa.Array:
    """One column of row groups ``groups`` (laid end to end), at ``positions`` (ascending int64
    rows of that run; default: every row), decoded by the kernel.

    :param source: the open Parquet file.
    :param metadata: its footer.
    :param groups: row groups, in order.
    :param name: a column :func:`native_columns` chose.
    :param arrow_type: its declared type.
    :param positions: the rows wanted.
    :param as_dictionary: int32 indices into the chunks' dictionaries when every data page is
        dictionary-encoded (a filter then tests each distinct value once).
    :raises NotDecodable: the kernel turned a chunk down.
    """
    index = column_index(metadata)[name]
    column = metadata.schema.column(index)
    pages: list[Page] = []
    rows = 0
    for g in groups:
        rg = metadata.row_group(g)
        pages.extend(_pages(source, rg.column(index)))
        rows += rg.num_rows
    try:
        return parquet_pages.decode(pages, rows, _WIDTHS[column.physical_type], arrow_type,
                                    column.max_definition_level, positions=positions, as_dictionary=as_dictionary)
    except ValueError as err:
        raise NotDecodable(f"column {name!r}: {err}") from err
