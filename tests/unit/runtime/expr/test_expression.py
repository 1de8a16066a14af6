"""filter_table: columns of different chunk layouts (one chunk; one per row group) and view columns."""
from __future__ import annotations

import random

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from airflow_provider_cylon.runtime.expr.expression import filter_table


def chunked(values: list, t: pa.DataType, lengths: list[int]) -> pa.ChunkedArray:
    out, start = [], 0
    for n in lengths:
        out.append(pa.array(values[start:start + n], t))
        start += n
    return pa.chunked_array(out, t)


@pytest.mark.parametrize("mask_lengths", [[1000], [300, 700], [250, 250, 250, 250], [1000 - 1, 1]])
def test_columns_chunked_otherwise_than_the_mask_keep_the_same_rows(mask_lengths: list[int]) -> None:
    rnd = random.Random(len(mask_lengths))
    n = 1000
    ints = [rnd.randrange(100) for _ in range(n)]
    text = [None if rnd.random() < 0.1 else rnd.choice(["AIR", "a value longer than twelve bytes", ""]) for _ in range(n)]
    keep = [None if rnd.random() < 0.05 else rnd.random() < 0.6 for _ in range(n)]
    table = pa.table({
        "one_chunk": chunked(ints, pa.int64(), [n]),
        "row_groups": chunked(ints, pa.int32(), [400, 600]),
        "views": chunked(text, pa.string_view(), [400, 600]),
        "views_other": chunked(text, pa.string_view(), [n]),
        "dictionary": chunked(text, pa.string(), [100, 900]).dictionary_encode(),
    })
    mask = chunked(keep, pa.bool_(), mask_lengths)
    got = filter_table(table, mask)
    kept = [i for i, k in enumerate(keep) if k]
    assert got.schema == table.schema
    for name in table.column_names:
        assert got.column(name).to_pylist() == [table.column(name)[i].as_py() for i in kept], name
    assert got.num_rows == pc.sum(pc.fill_null(mask, False)).as_py()


@pytest.mark.parametrize("where", [
    "a > 10 AND s LIKE 'x%'",              # narrowed before the text conjunct: s still read after
    "100 / b > 2 AND b <> 0",              # the division fails where b = 0: retried on the kept rows
    "a > 1000",                            # nothing kept
    "a % 2 = 0 OR s IS NULL",              # one conjunct
])
def test_keep_returns_only_those_columns_and_the_same_rows(where: str) -> None:
    from airflow_provider_cylon.client.sql import parse_expression
    from airflow_provider_cylon.runtime.expr import Expr

    rnd = random.Random(3)
    n = 5000
    table = pa.table({
        "a": pa.array([rnd.randrange(100) for _ in range(n)], pa.int64()),
        "b": pa.array([rnd.randrange(4) for _ in range(n)], pa.int64()),
        "s": pa.array([None if rnd.random() < 0.1 else rnd.choice(["xa", "yb", "x"]) for _ in range(n)],
                      pa.string_view()),
        "c": pa.array([float(i) for i in range(n)]),
    })
    predicate = Expr.from_json(parse_expression(where))
    whole = predicate.filter(table)
    for keep in (["c"], ["c", "a"], ["s"]):
        assert predicate.filter(table, keep=keep).equals(whole.select(keep)), keep
