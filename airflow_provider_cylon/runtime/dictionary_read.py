"""Low-cardinality text columns read through their Parquet dictionaries, then given back their declared type.

Decoding a dictionary-encoded Parquet text column into Arrow strings builds every value
again (3M TPC-H ``l_shipmode`` values: 0.045 s as string_view, 0.064 s as string), while
reading it as an Arrow dictionary only unpacks the indices (0.005-0.009 s). Turning the
dictionary back into the declared type costs less than the decode it replaces: for views,
the kernel gathers the dictionary's 16-byte views at the indices (the character buffers
shared), 0.014 s; for string and binary, Arrow's dictionary cast, 0.023 s. The rows that
leave the reader have exactly the types of the file's schema, so nothing after it
(the predicate, the plan's types, the output) sees a difference.

Only chunks whose dictionary page is small are read this way: a writer falls back to
plain pages once a dictionary grows past its limit (1 MiB in Arrow), and reading such a
column as a dictionary builds one from its plain values, which was slower than the plain
decode (``l_comment``: 0.37 s against 0.16 s).
"""
from __future__ import annotations

import functools
from collections.abc import Collection, Sequence

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from airflow_provider_cylon.kernel._native import is_view, mask_at_indices, take_array
from airflow_provider_cylon.runtime.column_chunks import column_index
from airflow_provider_cylon.runtime.expr import Expr, ExpressionError
from airflow_provider_cylon.runtime.expr.evaluate import Evaluator
from airflow_provider_cylon.runtime.expr.expression import filter_table
from airflow_provider_cylon.runtime.expr.pushdown import conjuncts
from airflow_provider_cylon.runtime.expr.tree import Call, Node
from airflow_provider_cylon.runtime.expr.tree import columns as columns_of
from airflow_provider_cylon.runtime.expr.types import is_binary, is_string

#: Largest dictionary page (bytes, as stored) of a column chunk read through its dictionary.
MAX_DICTIONARY_PAGE_BYTES = 32 << 10


def _dictionary_page_bytes(chunk: pq.ColumnChunkMetaData) -> int | None:
    if not chunk.has_dictionary_page or chunk.dictionary_page_offset is None:
        return None
    return int(chunk.data_page_offset) - int(chunk.dictionary_page_offset)


def small_dictionaries(metadata: pq.FileMetaData, index: int, groups: Sequence[int]) -> bool:
    """Whether the column at footer position ``index`` (see :func:`column_index`) has a dictionary
    page of at most :data:`MAX_DICTIONARY_PAGE_BYTES` in each of row groups ``groups``."""
    sizes = [_dictionary_page_bytes(metadata.row_group(g).column(index)) for g in groups]
    return bool(groups) and all(s is not None and 0 < s <= MAX_DICTIONARY_PAGE_BYTES for s in sizes)


def dictionary_columns(metadata: pq.FileMetaData, schema: pa.Schema, groups: Sequence[int],
                       columns: Sequence[str] | None) -> list[str]:
    """The text columns among ``columns`` worth reading as dictionaries in row groups ``groups``.

    :param metadata: the file's footer.
    :param schema: the file's Arrow schema.
    :param groups: the row groups to be read.
    :param columns: the columns to be read (``None``: all).
    """
    wanted = set(schema.names if columns is None else columns)
    index = column_index(metadata)
    return [field.name for field in schema
            if field.name in wanted and field.name in index and (is_string(field.type) or is_binary(field.type))
            and small_dictionaries(metadata, index[field.name], groups)]


def decoded(column: pa.ChunkedArray, declared: pa.DataType) -> pa.ChunkedArray:
    """A dictionary column's values in ``declared`` (views gathered by the kernel, into one chunk)."""
    if not is_view(declared):
        return column.cast(declared)
    if column.num_chunks == 0:
        return pa.chunked_array([], declared)
    # One chunk: the row groups' dictionaries unified and the indices joined first (as cheap as
    # a gather per chunk), so nothing later combines view chunks (which copies every view:
    # 3M rows, 6 ms a column, in each group-by key and join key that reads it).
    whole = column.unify_dictionaries().combine_chunks() if column.num_chunks > 1 else column.chunk(0)
    return pa.chunked_array([take_array(whole.dictionary.cast(declared), whole.indices.cast(pa.int64()))], declared)


def _dictionary_of(column: pa.ChunkedArray, declared: pa.DataType) -> pa.ChunkedArray:
    """``column`` still a dictionary, its values in the declared type (int32 indices)."""
    chunks = [pa.DictionaryArray.from_arrays(c.indices.cast(pa.int32()), c.dictionary.cast(declared), safe=False)
              for c in column.chunks]
    return pa.chunked_array(chunks, pa.dictionary(pa.int32(), declared))


def as_declared(table: pa.Table, schema: pa.Schema, names: Collection[str] | None = None,
                encoded: Collection[str] = ()) -> pa.Table:
    """``table`` with each dictionary column read by :func:`dictionary_columns` back in its type in ``schema``.

    :param table: as read.
    :param schema: the file's Arrow schema.
    :param names: only these columns (default: all); the others stay dictionaries, e.g. through a
        filter that does not read them, so that only the rows it keeps are decoded.
    :param encoded: columns that stay dictionaries (see ``ReadRequest.dictionaries``), their
        values given the declared type.
    """
    if not any(pa.types.is_dictionary(t) for t in table.schema.types):
        return table
    fields, columns = [], []
    for f, col in zip(table.schema, table.columns):
        if (pa.types.is_dictionary(f.type) and f.name in schema.names
                and not pa.types.is_dictionary(schema.field(f.name).type) and (names is None or f.name in names)):
            declared = schema.field(f.name)  # its declared type, nullability and metadata
            if f.name in encoded:
                col = _dictionary_of(col, declared.type)
                f = declared.with_type(col.type)
            else:
                f = declared
                col = decoded(col, f.type)
        fields.append(f)
        columns.append(col)
    return pa.Table.from_arrays(columns, schema=pa.schema(fields, metadata=table.schema.metadata))


def prefiltered(table: pa.Table, predicate: Expr, schema: pa.Schema,
                keep: Sequence[str] | None = None) -> tuple[pa.Table, Expr | None]:
    """``table`` (as read, dictionary columns included) less the rows that a conjunct of ``predicate``
    over one dictionary column alone rejects, decided once per dictionary entry; and the rest of
    the predicate, which the caller still applies (None: nothing left).

    A conjunct like ``l_shipmode IN ('MAIL', 'SHIP')`` is evaluated once on the row groups'
    dictionaries laid end to end (a few values each, in the declared type) and its answers taken
    at each chunk's indices, so text is compared per distinct value instead of per row, and only
    the rows kept are turned back into text (DuckDB filters dictionary vectors the same way). A
    null row gets the conjunct's answer for NULL. The conjuncts applied here are exactly those
    answers, so they are left out of the rest: their column need not be decoded for the
    predicate at all. A conjunct that fails here stays in the rest, evaluated row by row.

    :param table: as read with :func:`dictionary_columns`.
    :param predicate: the read's predicate.
    :param schema: the file's Arrow schema (the declared types).
    :param keep: the columns wanted after the filter: the others that the rest of the predicate
        does not read are dropped before the rows are (Q1's ship date, 98% of rows kept).
    """
    encoded = {f.name for f in table.schema
               if pa.types.is_dictionary(f.type) and not pa.types.is_dictionary(schema.field(f.name).type)}
    mask: pa.ChunkedArray | None = None
    rest: list[Node] = []
    for term in conjuncts(predicate.tree):
        names = columns_of(term)
        if len(names) != 1 or not names <= encoded:
            rest.append(term)
            continue
        (name,) = names
        declared = schema.field(name).type
        column = table.column(name)
        try:
            on_null = Evaluator(pa.table({name: pa.array([None], declared)})).result(term).to_pylist()[0] is True
            values = pa.chunked_array([c.dictionary for c in column.chunks], column.type.value_type)
            answers = Evaluator(pa.table({name: values.cast(declared)})).result(term)
            answers = pc.fill_null(answers.combine_chunks().cast(pa.bool_()), False)
            chunks, start = [], 0
            for chunk in column.chunks:
                own = answers.slice(start, len(chunk.dictionary))
                start += len(chunk.dictionary)
                chunks.append(mask_at_indices(chunk.indices, own, on_null))
        except (ExpressionError, pa.ArrowException):
            rest.append(term)  # evaluated row by row later, as any other conjunct
            continue
        term_mask = pa.chunked_array(chunks, pa.bool_())
        mask = term_mask if mask is None else pc.and_(mask, term_mask)
    if mask is None:
        return table, predicate
    remaining = Expr.of(functools.reduce(lambda a, b: Call("and", (a, b)), rest), where=predicate.where) if rest else None
    if keep is not None:
        wanted = set(keep) | (remaining.columns() if remaining is not None else set())
        table = table.select([n for n in table.column_names if n in wanted])
    # filter_table: the mask is chunked by row group like the dictionary columns, the others are
    # one chunk (Table.filter with a mask chunked otherwise than a column is 20x slower)
    return filter_table(table, mask), remaining


def apply_predicate(table: pa.Table, predicate: Expr, schema: pa.Schema, keep: Sequence[str] | None = None,
                    encoded: Collection[str] = ()) -> pa.Table:
    """The rows of ``table`` (as read, dictionary columns included) where ``predicate`` is TRUE, every
    column back in its declared type: :func:`prefiltered` first, then the rest row by row.

    :param table: as read with :func:`dictionary_columns` (or the kernel's dictionary decode).
    :param predicate: the read's predicate.
    :param schema: the file's Arrow schema (the declared types).
    :param keep: the columns wanted after the filter (the others may be dropped early).
    :param encoded: columns that may stay dictionaries (see :func:`as_declared`).
    """
    table, rest = prefiltered(table, predicate, schema, keep=keep)
    # The rest of the predicate sees its own columns in their declared types; the other
    # dictionary columns go through the filter as indices and only the kept rows are
    # decoded (TPC-H Q1's flags: 3M rows filtered as views 0.03 s, as indices 0.002 s).
    if rest is not None:
        table = as_declared(table, schema, names=rest.columns())
        table = rest.filter(table, keep=keep)
    return as_declared(table, schema, encoded=encoded)
