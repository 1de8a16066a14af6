"""Helpers of the runtime integration tests: random tables, DuckDB references."""
from __future__ import annotations

import os
import random

import pyarrow as pa

#: Channels the distributed tests run over (the runtime's three transports).
CHANNELS = ("redis", "tcp", "s3")


def make_table(n: int, seed: int, keys: int, value: str) -> pa.Table:
    """Random rows with duplicates and nulls in every column."""
    rnd = random.Random(seed)

    def maybe(x):
        return None if rnd.random() < 0.08 else x

    return pa.table({
        "k": pa.array([maybe(rnd.randrange(keys)) for _ in range(n)], pa.int64()),
        "s": pa.array([maybe(f"s{rnd.randrange(4)}") for _ in range(n)], pa.string()),
        value: pa.array([maybe(rnd.randrange(-20, 20)) for _ in range(n)], pa.int64()),
    })


def duck(sql: str, **tables: str) -> pa.Table:
    """Run ``sql`` in DuckDB with views named after ``tables`` (path per view)."""
    import duckdb

    con = duckdb.connect()
    con.execute("SET threads TO 1")
    for name, path in tables.items():
        if path.endswith(".csv"):
            con.execute(f"CREATE VIEW {name} AS SELECT * FROM read_csv_auto('{path}')")
        elif os.path.isdir(path):
            con.execute(f"CREATE VIEW {name} AS SELECT * FROM read_parquet('{path}/*.parquet')")
        else:
            con.execute(f"CREATE VIEW {name} AS SELECT * FROM read_parquet('{path}')")
    return con.sql(sql).to_arrow_table()
