"""Fixtures of the Airflow glue's unit tests: an isolated AIRFLOW_HOME and a cylon connection.

AIRFLOW_HOME and CYLON_STATE_DIR are set before Airflow is imported, so no test
touches ~/airflow; connections come from ``AIRFLOW_CONN_*`` variables (no database).
"""
from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from cylon_airflow_support import context, cylon_conn, isolate_airflow  # noqa: F401  (fixtures)

isolate_airflow("cylon-airflow-unit-")


@pytest.fixture()
def job_id() -> str:
    """A fresh job id per test (keys of different tests never meet)."""
    return f"unit-{uuid.uuid4().hex[:12]}"


@pytest.fixture()
def redis_client(redis_url: str) -> Iterator[object]:
    """Sync client of the session's Valkey (decoded strings)."""
    import redis

    client = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        yield client
    finally:
        client.close()


@pytest.fixture()
def small_tables(tmp_path: object) -> dict[str, str]:
    """Two small Parquet inputs (orders, customers) in a temp dir; returns their directories."""
    from pathlib import Path

    import pyarrow as pa
    import pyarrow.parquet as pq

    base = Path(str(tmp_path))
    (base / "orders").mkdir()
    (base / "customers").mkdir()
    pq.write_table(pa.table({"order_id": list(range(8)), "customer_id": [1, 2, 3, 1, 2, None, 9, 3],
                             "amount": [10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0]}), base / "orders/o.parquet")
    pq.write_table(pa.table({"customer_id": [1, 2, 3], "country": ["US", "DE", None]}),
                   base / "customers/c.parquet")
    return {"orders": str(base / "orders"), "customers": str(base / "customers"), "out": str(base / "out")}
