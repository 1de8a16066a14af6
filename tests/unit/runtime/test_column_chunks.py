"""Fixed-width Parquet columns decoded by the kernel (runtime/column_chunks.py), against pyarrow's reader.

Files are written by pyarrow with every layout the decoder meets: required and optional
columns, dictionary pages that fall back to PLAIN mid-chunk, no dictionary at all, data
page v1 and v2, several pages a chunk, snappy / zstd / gzip / none, and row groups of
different sizes. An encoding the decoder does not read (DELTA_BINARY_PACKED) is refused,
so that the caller reads the column with Arrow.
"""
from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airflow_provider_cylon.kernel._native import mask_at_indices
from airflow_provider_cylon.runtime.column_chunks import NotDecodable, native_columns, read_column

TYPES = [pa.int32(), pa.int64(), pa.date32(), pa.float32(), pa.float64(), pa.decimal128(9, 2),
         pa.decimal128(15, 2), pa.decimal128(18, 0)]


def _values(t: pa.DataType, ints: list[int | None]) -> pa.Array:
    if pa.types.is_decimal(t):
        return pa.array([None if v is None else Decimal(v).scaleb(-t.scale) for v in ints], t)
    if pa.types.is_date(t):
        return pa.array([None if v is None else v % 100_000 for v in ints], pa.int32()).cast(t)
    if pa.types.is_floating(t):
        return pa.array([None if v is None else v / 7 for v in ints], t)
    return pa.array(ints, t)


def _write(path: Path, table: pa.Table, **options) -> pq.ParquetFile:
    pq.write_table(table, path, store_decimal_as_integer=True, **options)
    return pq.ParquetFile(pa.memory_map(str(path)))


def _check(pf: pq.ParquetFile, source: pa.NativeFile, groups: list[int]) -> None:
    want = pf.read_row_groups(groups) if groups else pf.schema_arrow.empty_table()
    names = native_columns(pf.metadata, pf.schema_arrow, groups, None)
    assert names, "every column here is one the kernel decodes"
    n = want.num_rows
    every_third = pa.array(range(1, n, 3), pa.int64())
    for name in names:
        t = pf.schema_arrow.field(name).type
        expect = want.column(name).combine_chunks() if n else pa.array([], t)
        assert read_column(source, pf.metadata, groups, name, t).equals(expect), name
        assert read_column(source, pf.metadata, groups, name, t, positions=every_third).equals(
            expect.take(every_third)), name
        as_dict = read_column(source, pf.metadata, groups, name, t, as_dictionary=True)
        decoded = as_dict.cast(t) if pa.types.is_dictionary(as_dict.type) else as_dict
        assert decoded.equals(expect), name


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.integers(0, 3000), distinct=st.sampled_from([1, 5, 300, 100_000]), null_share=st.sampled_from([0, 0.2, 1]),
       group_rows=st.sampled_from([700, 1000, 5000]), page_bytes=st.sampled_from([64, 1 << 20]),
       version=st.sampled_from(["1.0", "2.0"]), codec=st.sampled_from(["snappy", "zstd", "gzip", "none"]),
       dictionary_limit=st.sampled_from([256, 1 << 20]), seed=st.integers(0, 10))
def test_every_layout_decodes_as_pyarrow_reads_it(tmp_path: Path, rows: int, distinct: int, null_share: float,
                                                   group_rows: int, page_bytes: int, version: str, codec: str,
                                                   dictionary_limit: int, seed: int) -> None:
    import random

    rng = random.Random(seed)
    base = [rng.randrange(-distinct, distinct) for _ in range(rows)]
    columns, fields = [], []
    for t in TYPES:
        ints = [None if rng.random() < null_share else v for v in base]
        columns += [_values(t, base), _values(t, ints)]
        fields += [pa.field(f"req_{t}", t, nullable=False), pa.field(f"opt_{t}", t)]
    path = tmp_path / f"t{seed}-{rows}.parquet"
    pf = _write(path, pa.Table.from_arrays(columns, schema=pa.schema(fields)), row_group_size=group_rows,
                data_page_size=page_bytes, data_page_version=version, compression=codec,
                dictionary_pagesize_limit=dictionary_limit)
    source = pa.memory_map(str(path))
    groups = list(range(pf.metadata.num_row_groups))
    _check(pf, source, groups)
    if len(groups) > 2:
        _check(pf, source, groups[1:3])  # some row groups: positions count from the first one read


def test_delta_encoded_columns_are_turned_down(tmp_path: Path) -> None:
    table = pa.table({"a": pa.array(range(5000), pa.int64())})
    pf = _write(tmp_path / "d.parquet", table, use_dictionary=False, column_encoding={"a": "DELTA_BINARY_PACKED"})
    with pytest.raises(NotDecodable, match="encoding"):
        read_column(pa.memory_map(str(tmp_path / "d.parquet")), pf.metadata, [0], "a", pa.int64())


def test_only_types_stored_as_they_are_declared_are_chosen(tmp_path: Path) -> None:
    # int8 is stored in INT32, timestamps are rescaled on read: left to Arrow. pyarrow reads a
    # date64 back as date32, which the stored days are.
    table = pa.table({"i8": pa.array([1, 2], pa.int8()), "ts": pa.array([1, 2], pa.timestamp("s")),
                      "d64": pa.array([86_400_000, 0], pa.date64()), "s": ["a", "b"], "ok": pa.array([1, 2], pa.int64()),
                      "lst": pa.array([[1], [2]])})
    pf = _write(tmp_path / "t.parquet", table)
    assert native_columns(pf.metadata, pf.schema_arrow, [0], None) == ["d64", "ok"]
    got = read_column(pa.memory_map(str(tmp_path / "t.parquet")), pf.metadata, [0], "d64", pa.date32())
    assert got.equals(pf.read(columns=["d64"]).column(0).combine_chunks())
    pf = _write(tmp_path / "l.parquet", table, compression="lz4")
    assert native_columns(pf.metadata, pf.schema_arrow, [0], None) == []


def test_a_mask_at_dictionary_indices_answers_each_row() -> None:
    indices = pa.array([0, 2, None, 1, 2, 0, None, 1, 1, 2], pa.int32())
    answers = pa.array([True, None, False])
    got = mask_at_indices(indices, answers, True)
    want = pc.fill_null(pc.take(pc.fill_null(answers, False), indices), True)
    assert got.equals(want)
    assert mask_at_indices(indices.slice(3), answers, False).equals(
        pc.fill_null(pc.take(pc.fill_null(answers, False), indices.slice(3)), False))
    with pytest.raises(ValueError, match="past"):
        mask_at_indices(pa.array([0, 5], pa.int32()), answers, False)
