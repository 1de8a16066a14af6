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

_HOME = tempfile.mkdtemp(prefix="cylon-airflow-unit-")
os.environ.setdefault("AIRFLOW_HOME", _HOME)
os.environ.setdefault("CYLON_STATE_DIR", os.path.join(_HOME, "cylon"))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")


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
