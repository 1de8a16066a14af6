"""Filtered Parquet reads with the kernel's dictionary decode of fixed-width columns
(runtime/fixed_dictionary_read.py), against DuckDB filtering the same file."""
from __future__ import annotations

import random
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from airflow_provider_cylon.runtime import fixed_dictionary_read, storage
from airflow_provider_cylon.runtime.spec import InputSpec

PREDICATES = [
    "ship < DATE '1995-01-01'",
    "ship >= DATE '1994-01-01' AND ship < DATE '1995-01-01' AND disc BETWEEN 0.05 AND 0.07 AND qty < 24",
    "qty IS NULL OR disc > 0.08",  # one conjunct over two columns: read as before
    "disc IS NULL",
    "qty IN (1, 2, 3) AND mode = 'MAIL'",
    "ship < commit AND disc < 0.03",  # the two-column conjunct after the dictionary one
    "COALESCE(qty, 0) = 0",
    "id % 5 = 0 AND ship > DATE '1998-01-01'",
]


def _file(tmp_path: Path, n: int = 20_000) -> Path:
    rng = random.Random(11)
    days = [rng.randrange(8000, 10600) for _ in range(n)]
    table = pa.table({
        "id": pa.array(range(n), pa.int64()),
        "ship": pa.array(days, pa.int32()).cast(pa.date32()),
        "commit": pa.array([d + rng.randrange(-30, 30) for d in days], pa.int32()).cast(pa.date32()),
        "qty": pa.array([None if rng.random() < 0.1 else Decimal(rng.randrange(1, 51)) for _ in range(n)],
                        pa.decimal128(15, 2)),
        "disc": pa.array([None if rng.random() < 0.05 else Decimal(rng.randrange(0, 11)) / 100 for _ in range(n)],
                         pa.decimal128(15, 2)),
        "price": pa.array([Decimal(rng.randrange(10**6)) / 100 for _ in range(n)], pa.decimal128(15, 2)),
        "mode": pa.array([rng.choice(["MAIL", "AIR", "SHIP"]) for _ in range(n)], pa.string_view()),
    })
    path = tmp_path / "t.parquet"
    pq.write_table(table, path, row_group_size=6_000, store_decimal_as_integer=True)
    return path


@pytest.mark.parametrize("where", PREDICATES)
def test_a_filtered_read_keeps_the_rows_duckdb_keeps(tmp_path: Path, where: str, monkeypatch) -> None:
    import duckdb

    from airflow_provider_cylon.client.sql import parse_expression
    from airflow_provider_cylon.runtime.expr import Expr
    from airflow_provider_cylon.runtime.storage import ReadRequest

    path = _file(tmp_path)
    predicate = Expr.from_json(parse_expression(where))
    used = []
    real = fixed_dictionary_read.read_filtered

    def spy(*args, **kwargs):
        out = real(*args, **kwargs)
        used.append(out is not None)
        return out

    monkeypatch.setattr(storage, "read_filtered", spy)
    want = duckdb.sql(f"SELECT id, price, qty, mode FROM read_parquet('{path}') WHERE {where} ORDER BY id").to_arrow_table()
    for world in (1, 2):
        parts = [storage.read_rank_share(InputSpec(str(path)), rank, world, request=ReadRequest(
            columns=("id", "ship", "commit", "qty", "disc", "price", "mode"), predicate=predicate,
            keep=("id", "price", "qty", "mode"))) for rank in range(world)]
        got = pa.concat_tables(parts)
        assert got.column_names == ["id", "price", "qty", "mode"]
        assert got.schema.field("mode").type == pa.string_view()
        for name in want.column_names:
            assert got.column(name).to_pylist() == want.column(name).to_pylist(), (where, name)
    alone = not where.startswith("qty IS NULL OR")
    assert any(used) == alone  # the kernel's dictionaries were read where a conjunct reads one column alone
