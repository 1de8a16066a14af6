"""Fixtures of the Airflow glue's unit tests: an isolated AIRFLOW_HOME and a cylon connection.

AIRFLOW_HOME and CYLON_STATE_DIR are set before Airflow is imported, so no test
touches ~/airflow; connections come from ``AIRFLOW_CONN_*`` variables (no database).
"""
from __future__ import annotations

import json
import os
import tempfile
import uuid
from collections.abc import Iterator

import pytest
from cylon_unit_support import RecordingTI

_HOME = tempfile.mkdtemp(prefix="cylon-airflow-unit-")
os.environ.setdefault("AIRFLOW_HOME", _HOME)
os.environ.setdefault("CYLON_STATE_DIR", os.path.join(_HOME, "cylon"))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
# Defer at once, and fire at once: no scheduler runs here, so the race that
# [cylon] defer_hold_s works around cannot happen, and deferral is what is tested.
os.environ.setdefault("AIRFLOW__CYLON__INLINE_WAIT_S", "0")
os.environ.setdefault("AIRFLOW__CYLON__DEFER_HOLD_S", "0")


@pytest.fixture()
def cylon_conn(redis_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """``cylon_default`` pointing at the session's real Valkey (local executor); returns the URL."""
    monkeypatch.setenv("AIRFLOW_CONN_CYLON_DEFAULT",
                       json.dumps({"conn_type": "cylon", "extra": {"redis_url": redis_url, "executor": "local"}}))
    return redis_url


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
def context() -> dict[str, object]:
    """A minimal task context for calling execute() directly."""
    return {"ti": RecordingTI(), "run_id": f"manual__{uuid.uuid4().hex[:8]}"}


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
