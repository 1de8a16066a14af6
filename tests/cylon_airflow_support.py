"""What the Airflow glue's unit and integration tests share (a uniquely named module: their conftests import it).

The unit-test directories of the glue (hooks, operators, sensors, triggers, links)
and of the client share one conftest body: ``from cylon_airflow_support import *``
then ``isolate_airflow("cylon-airflow-unit-")``.

:func:`isolate_airflow` must run before Airflow is imported: AIRFLOW_HOME and
CYLON_STATE_DIR point into a temp dir, so no test touches ~/airflow; connections
come from ``AIRFLOW_CONN_*`` variables.
"""
from __future__ import annotations

__all__ = ["RecordingTI", "TaskStateStore", "context", "cylon_conn", "isolate_airflow", "job_id", "redis_client",
           "small_tables"]

import json
import os
import tempfile
import uuid
from collections.abc import Iterator

import pytest


def _remove_home(home: str) -> None:
    """At exit: stop the embedded Valkey a test may have started there, then delete the directory."""
    import shutil
    from pathlib import Path

    try:
        from airflow_provider_cylon.client.embedded_valkey import stop_embedded_valkey

        stop_embedded_valkey(Path(home) / "cylon")
    except Exception:  # noqa: BLE001 - best effort at interpreter exit
        pass
    shutil.rmtree(home, ignore_errors=True)


def isolate_airflow(prefix: str) -> str:
    """Point Airflow and Cylon state at a fresh temp dir (removed when the test session exits); returns it.

    It must exist before Airflow is imported, so before any pytest fixture (``tmp_path``) could
    make it: an ``atexit`` hook removes it instead, so no session leaves a ``cylon-*`` dir behind.
    """
    import atexit

    home = tempfile.mkdtemp(prefix=prefix)
    if os.environ.get("AIRFLOW_HOME", home) == home:  # ours: nobody set it before
        atexit.register(_remove_home, home)
    else:
        os.rmdir(home)
    os.environ.setdefault("AIRFLOW_HOME", home)
    os.environ.setdefault("CYLON_STATE_DIR", os.path.join(home, "cylon"))
    os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    # Defer at once, and fire at once: no scheduler runs here, so the race that
    # [cylon] defer_hold_s works around cannot happen, and deferral is what is tested.
    os.environ.setdefault("AIRFLOW__CYLON__INLINE_WAIT_S", "0")
    os.environ.setdefault("AIRFLOW__CYLON__DEFER_HOLD_S", "0")
    return home


class TaskStateStore:
    """The task-state store's get/set, kept in a dict (what Airflow 3.3 keeps per task instance across tries)."""

    def __init__(self) -> None:
        self.values: dict[str, object] = {}

    def get(self, key: str, default: object = None) -> object:
        return self.values.get(key, default)

    def set(self, key: str, value: object) -> None:
        self.values[key] = value


class RecordingTI:
    """The few task-instance members the operators and links use (xcom_push/pull, try_number, map_index)."""

    def __init__(self, try_number: int = 1, map_index: int = -1, task_id: str = "task") -> None:
        self.try_number = try_number
        self.map_index = map_index
        self.task_id = task_id
        self.stats_tags: dict[str, str] = {}
        self.xcoms: dict[str, object] = {}

    def xcom_push(self, key: str, value: object) -> None:
        self.xcoms[key] = value

    def xcom_pull(self, task_ids: object = None, key: str = "return_value") -> object:
        return self.xcoms.get(key)


@pytest.fixture()
def cylon_conn(redis_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """``cylon_default`` pointing at the session's real Valkey (local executor); returns the URL."""
    monkeypatch.setenv("AIRFLOW_CONN_CYLON_DEFAULT",
                       json.dumps({"conn_type": "cylon", "extra": {"redis_url": redis_url, "executor": "local"}}))
    return redis_url


@pytest.fixture()
def context() -> dict[str, object]:
    """A minimal task context for calling execute() directly."""
    return {"ti": RecordingTI(), "run_id": f"manual__{uuid.uuid4().hex[:8]}"}



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
