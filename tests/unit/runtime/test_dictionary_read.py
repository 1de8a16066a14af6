"""Low-cardinality text columns read through their Parquet dictionaries (runtime/dictionary_read.py)."""
from __future__ import annotations

import random
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from airflow_provider_cylon.runtime import storage
from airflow_provider_cylon.runtime.dictionary_read import as_declared, dictionary_columns
from airflow_provider_cylon.runtime.spec import InputSpec

TEXT_TYPES = [pa.string(), pa.large_string(), pa.string_view(), pa.binary(), pa.large_binary(), pa.binary_view()]


def _table(n: int, seed: int) -> pa.Table:
    rng = random.Random(seed)
    modes = ["AIR", "AIR REG", "MAIL", "a longer value than twelve bytes", "ünïcödé", ""]
    low = [None if rng.random() < 0.1 else rng.choice(modes) for _ in range(n)]
    high = [f"comment {rng.random()} {'x' * rng.randrange(40)}" for _ in range(n)]
    columns, fields = [], []
    for t in TEXT_TYPES:
        binary = pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_binary_view(t)
        for name, values in (("low", low), ("high", high)):
            vals = [None if v is None else (v.encode() if binary else v) for v in values]
            columns.append(pa.array(vals, t))
            fields.append(pa.field(f"{name}_{t}", t, nullable=name == "low"))
    columns.append(pa.array(range(n), pa.int64()))
    fields.append(pa.field("id", pa.int64(), nullable=False))
    return pa.Table.from_arrays(columns, schema=pa.schema(fields))


def _sortable(table: pa.Table) -> pa.Table:
    """Views as large types (pyarrow cannot take views), to compare tables in one row order."""
    plain = {pa.string_view(): pa.large_string(), pa.binary_view(): pa.large_binary()}
    return table.cast(pa.schema([f.with_type(plain.get(f.type, f.type)) for f in table.schema]))


@pytest.mark.parametrize("seed", [1, 2])
def test_a_read_through_dictionaries_equals_the_plain_read(tmp_path: Path, seed: int) -> None:
    table = _table(60_000, seed)
    path = tmp_path / "t.parquet"
    pq.write_table(table, path, row_group_size=20_000)
    pf = pq.ParquetFile(path)
    chosen = dictionary_columns(pf.metadata, pf.schema_arrow, [0, 1, 2], None)
    assert sorted(chosen) == sorted(f"low_{t}" for t in TEXT_TYPES)  # small dictionaries only
    want = pq.read_table(path)
    for world in (1, 2):
        got = pa.concat_tables([storage.read_rank_share(InputSpec(str(path)), rank, world) for rank in range(world)])
        assert got.schema.equals(want.schema, check_metadata=False)
        assert _sortable(got).sort_by("id").equals(_sortable(want).sort_by("id"))


def test_columns_and_row_groups_narrow_the_choice(tmp_path: Path) -> None:
    table = _table(3_000, 3)
    path = tmp_path / "t.parquet"
    pq.write_table(table, path, row_group_size=1_000, use_dictionary=["low_string", "high_string"])
    pf = pq.ParquetFile(path)
    assert dictionary_columns(pf.metadata, pf.schema_arrow, [1], ["low_string", "id"]) == ["low_string"]
    assert dictionary_columns(pf.metadata, pf.schema_arrow, [0], ["low_string_view"]) == []  # plain pages
    assert dictionary_columns(pf.metadata, pf.schema_arrow, [], ["low_string"]) == []


def test_as_declared_keeps_declared_types_nullability_and_empty_chunks() -> None:
    schema = pa.schema([pa.field("s", pa.string_view(), nullable=False), pa.field("b", pa.binary())])
    empty = pa.table({"b": pa.chunked_array([], pa.dictionary(pa.int32(), pa.binary()))})
    out = as_declared(empty, schema.remove(0))
    assert out.schema.field("b").type == pa.binary() and out.num_rows == 0
    dictionary = pa.table({"s": pa.chunked_array([pa.array(["x", "y", "x"]).dictionary_encode()])})
    out = as_declared(dictionary, schema.remove(1))
    assert out.schema == schema.remove(1)
    assert out.column("s").to_pylist() == ["x", "y", "x"]


PREDICATES = [
    "low_s IN ('AIR', 'MAIL')",
    "low_s = 'ünïcödé' AND id % 3 = 0",
    "low_s <> 'AIR'",
    "low_s IS NULL",
    "low_s IS NOT NULL AND low_v LIKE '%long%'",
    "COALESCE(low_v, 'none') = 'none'",
    "low_s NOT IN ('AIR', '') OR id < 10",
    "CASE WHEN low_v IS NULL THEN TRUE ELSE low_v > 'M' END",
    "low_s || low_v = 'AIRAIR'",
    "low_b IS NULL",
    "id % 7 = 0",  # no dictionary column read: all three go through the filter as indices
]


@pytest.mark.parametrize("where", PREDICATES)
def test_a_predicate_over_dictionary_columns_keeps_the_rows_duckdb_keeps(tmp_path: Path, where: str) -> None:
    import duckdb

    from airflow_provider_cylon.client.sql import parse_expression
    from airflow_provider_cylon.runtime.expr import Expr
    from airflow_provider_cylon.runtime.storage import ReadRequest

    rng = random.Random(7)
    modes = ["AIR", "MAIL", "ünïcödé", "", "a longer value than twelve bytes"]
    n = 30_000

    def column(t: pa.DataType) -> pa.Array:
        vals = [None if rng.random() < 0.15 else rng.choice(modes) for _ in range(n)]
        return pa.array([None if v is None else (v.encode() if t == pa.binary() else v) for v in vals], t)

    table = pa.table({"low_s": column(pa.string()), "low_v": column(pa.string_view()), "low_b": column(pa.binary()),
                      "id": pa.array(range(n), pa.int64())})
    path = tmp_path / "t.parquet"
    pq.write_table(table, path, row_group_size=7_000)
    pf = pq.ParquetFile(path)
    assert set(dictionary_columns(pf.metadata, pf.schema_arrow, list(range(pf.num_row_groups)), None)) == {
        "low_s", "low_v", "low_b"}
    predicate = Expr.from_json(parse_expression(where))
    got = storage.read_rank_share(InputSpec(str(path)), 0, 1, request=ReadRequest(predicate=predicate))
    assert got.schema.equals(pf.schema_arrow, check_metadata=False)
    want = duckdb.sql(f"SELECT * FROM read_parquet('{path}') WHERE {where} ORDER BY id").to_arrow_table()
    assert got.column("id").to_pylist() == want.column("id").to_pylist()
    for name in ("low_s", "low_v", "low_b"):  # decoded after the filter where the predicate did not read them
        assert got.column(name).to_pylist() == want.column(name).to_pylist(), name
    assert got.column("low_v").num_chunks <= 1  # views decoded as one chunk (nothing combines them later)
