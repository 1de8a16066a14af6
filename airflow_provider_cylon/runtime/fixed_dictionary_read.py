"""Fixed-width Parquet columns a filter reads alone, read as dictionary indices by the kernel.

A conjunct that reads one column alone (``l_shipdate >= DATE '1994-01-01'``,
``l_discount BETWEEN 0.05 AND 0.07``) is then decided once per distinct value of the
column's Parquet dictionaries, and the row mask is looked up by index
(:func:`~airflow_provider_cylon.runtime.dictionary_read.prefiltered`), as text columns with
small dictionaries already were. Arrow's reader cannot do it for these columns: it reads
only BYTE_ARRAY columns as dictionaries, so every date and decimal was built for every row
and then compared row by row (TPC-H Q6 compares 16-byte decimals for 3M rows a rank).
The kernel decodes those columns' pages itself
(:mod:`~airflow_provider_cylon.runtime.column_chunks`); the other columns are read by Arrow
as before, in the same table, and only the kept rows are turned back into their types.

Used only where it helps, measured on one rank's TPC-H reads at SF 1 (same code, A/B):
a predicate with such a conjunct over a column whose dictionary pages are small
(:data:`~airflow_provider_cylon.runtime.dictionary_read.MAX_DICTIONARY_PAGE_BYTES`).
Q6, Q12 and Q14 read 9-19% faster; Q1, Q3, Q4 and Q19 the same. A column read by a
conjunct over several columns (``l_commitdate < l_receiptdate``) is left to Arrow: as
indices it would be decoded again for that conjunct, which was 13% slower for Q4.
Materialising only the kept rows of the other columns (the kernel can: ``positions``) was
measured too and lost: their pages still have to be decompressed, and Arrow's snappy at
0.7-0.8 GB/s on l_extendedprice's dictionary pages is most of their cost either way.
"""
from __future__ import annotations

import logging
from collections.abc import Sequence

import pyarrow as pa
import pyarrow.parquet as pq

from airflow_provider_cylon.runtime.column_chunks import NotDecodable, column_index, native_columns, read_column
from airflow_provider_cylon.runtime.expr.pushdown import conjuncts
from airflow_provider_cylon.runtime.expr.tree import columns as columns_of
from airflow_provider_cylon.runtime.dictionary_read import apply_predicate, dictionary_columns, small_dictionaries

log = logging.getLogger(__name__)


def _read(source: pa.NativeFile, metadata: pq.FileMetaData, groups: Sequence[int], names: Sequence[str],
          declared: pa.Schema, native: set[str]) -> pa.Table:
    """``names`` of row groups ``groups``: those in ``native`` decoded by the kernel (as dictionaries),
    the rest by Arrow (text with small dictionaries as dictionaries)."""
    columns: dict[str, pa.Array | pa.ChunkedArray] = {}
    for name in names:
        if name in native:
            try:
                columns[name] = read_column(source, metadata, groups, name, declared.field(name).type,
                                            as_dictionary=True)
            except NotDecodable as err:
                log.debug("read %s with Arrow: %s", name, err)
    others = [n for n in names if n not in columns]
    if others:
        encoded = dictionary_columns(metadata, declared, groups, others)
        table = pq.ParquetFile(source, metadata=metadata, pre_buffer=True,
                               read_dictionary=encoded).read_row_groups(groups, columns=others)
        columns.update(zip(others, table.columns))
    return pa.table([columns[n] for n in names], names=list(names))


def read_filtered(source: pa.NativeFile, metadata: pq.FileMetaData, groups: Sequence[int],
                  columns: Sequence[str] | None, predicate, keep: Sequence[str] | None,
                  declared: pa.Schema, encoded: Sequence[str] = ()) -> pa.Table | None:
    """The rows of row groups ``groups`` where ``predicate`` is TRUE, columns ``keep`` (default:
    ``columns``) in their declared types; None where this read would not help (the caller reads
    as before).

    :param source: the open Parquet file.
    :param metadata: its footer.
    :param groups: the row groups to read (those the statistics did not exclude), in order.
    :param columns: the columns to read (None: all); the predicate's among them.
    :param predicate: the read's predicate (a runtime expression).
    :param keep: the result's columns, in order.
    :param declared: the file's Arrow schema.
    :param encoded: text columns that may stay dictionaries (``ReadRequest.dictionaries``).
    """
    names = list(declared.names if columns is None else columns)
    wanted = list(keep) if keep is not None else names
    # Only a column that a conjunct reads alone gains: that conjunct is decided per dictionary
    # value. Read as indices for a conjunct over several columns, it would be decoded again.
    alone = {next(iter(c)) for c in (columns_of(term) for term in conjuncts(predicate.tree)) if len(c) == 1}
    index = column_index(metadata)
    chosen = {n for n in native_columns(metadata, declared, groups, [n for n in names if n in alone])
              if small_dictionaries(metadata, index[n], groups)}
    if not groups or not chosen:
        return None
    table = _read(source, metadata, groups, names, declared, chosen)
    return apply_predicate(table, predicate, declared, keep=wanted, encoded=encoded).select(wanted)
