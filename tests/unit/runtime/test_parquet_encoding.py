"""Which output columns get a Parquet dictionary: high-cardinality ones do not; the files read back equal."""
from __future__ import annotations

import math
import random

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given
from hypothesis import strategies as st

from airflow_provider_cylon.runtime import parquet_encoding as pe
from airflow_provider_cylon.runtime.spec import OutputSpec
from airflow_provider_cylon.runtime.storage import commit, read_output, stage_part


def _encodings(path, column: str) -> set[str]:
    meta = pq.ParquetFile(path).metadata
    index = meta.schema.names.index(column)
    return {e for g in range(meta.num_row_groups) for e in meta.row_group(g).column(index).encodings}


@pytest.mark.parametrize("distinct", [1, 50, 5_000, 100_000])
def test_estimated_distinct_recovers_a_uniform_columns_cardinality(distinct: int) -> None:
    rng = random.Random(distinct)
    rows = 2_000_000
    sample = [rng.randrange(distinct) for _ in range(pe.SAMPLE_ROWS)]
    estimate = pe.estimated_distinct(len(set(sample)), pe.SAMPLE_ROWS, rows)
    assert math.isclose(estimate, distinct, rel_tol=0.1)


def test_estimated_distinct_edges() -> None:
    assert pe.estimated_distinct(10, 10, 10) == 10  # the whole column was sampled
    assert pe.estimated_distinct(100, 100, 10_000) == 10_000  # nothing repeats: as many as rows
    assert pe.estimated_distinct(1, 100, 10_000) == pytest.approx(1, rel=1e-6)


def test_high_cardinality_columns_skip_the_dictionary_and_the_rest_keep_it(tmp_path) -> None:
    rng = random.Random(0)
    n = 300_000
    table = pa.table({
        "id": pa.array(rng.sample(range(10**9), n), pa.int64()),           # unique
        "measure": pa.array([rng.random() for _ in range(n)]),               # unique floats
        "city": pa.array([f"city-{rng.randrange(40)}" for _ in range(n)]),   # 40 strings
        "bucket": pa.array([rng.randrange(70_000) for _ in range(n)], pa.int32()),  # 70k: fits 1 MiB
        "flag": pa.array([i % 3 == 0 for i in range(n)]),
        "text": pa.array([f"row {i} of a long free text column" for i in range(n)]),  # unique strings
    })
    chosen = pe.dictionary_columns(table)
    assert chosen == ["city", "bucket", "flag"]
    path = tmp_path / "t.parquet"
    pq.write_table(table, path, use_dictionary=chosen)
    assert "RLE_DICTIONARY" in _encodings(path, "city")
    assert "RLE_DICTIONARY" in _encodings(path, "bucket")
    assert "RLE_DICTIONARY" not in _encodings(path, "id")
    assert "RLE_DICTIONARY" not in _encodings(path, "text")
    assert pq.read_table(path).equals(table)


@given(st.integers(0, 40_000), st.sampled_from(["int64", "string", "float64", "dictionary"]))
def test_low_cardinality_and_nested_tables_keep_arrows_default(rows: int, kind: str) -> None:
    values = pa.array([str(i % 7) for i in range(rows)], pa.string())
    col = values.dictionary_encode() if kind == "dictionary" else values.cast(kind)
    flat = pa.table({"c": col})
    assert pe.dictionary_columns(flat) is True  # 7 distinct values, or too small to sample
    nested = flat.append_column("n", pa.array([[i] for i in range(rows)], pa.list_(pa.int64())))
    assert pe.dictionary_columns(nested) is True  # list leaves: Arrow decides


def test_a_published_output_round_trips_with_the_chosen_encodings(tmp_path) -> None:
    rng = random.Random(1)
    n = 400_000  # unique keys: 3.2 MB of dictionary, past twice the 1 MiB limit
    table = pa.table({"k": pa.array([rng.randrange(2**40) for _ in range(n)], pa.int64()),
                      "g": pa.array([rng.choice(["a", "b", None]) for _ in range(n)])})
    out = OutputSpec(str(tmp_path / "out"))
    part = stage_part(table, out, "job-enc", 0)
    commit(out, "job-enc", [part], table.schema)
    assert read_output(str(tmp_path / "out")).equals(table)
    files = list((tmp_path / "out").glob("part-*.parquet"))
    assert "RLE_DICTIONARY" not in _encodings(files[0], "k")
    assert "RLE_DICTIONARY" in _encodings(files[0], "g")
