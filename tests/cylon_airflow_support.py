"""What the Airflow glue's unit and integration tests share (a uniquely named module: their conftests import it).

:func:`isolate_airflow` must run before Airflow is imported: AIRFLOW_HOME and
CYLON_STATE_DIR point into a temp dir, so no test touches ~/airflow; connections
come from ``AIRFLOW_CONN_*`` variables.
"""
from __future__ import annotations

import json
import os
import tempfile
import uuid

import pytest


def isolate_airflow(prefix: str) -> str:
    """Point Airflow and Cylon state at a fresh temp dir; returns it."""
    home = tempfile.mkdtemp(prefix=prefix)
    os.environ.setdefault("AIRFLOW_HOME", home)
    os.environ.setdefault("CYLON_STATE_DIR", os.path.join(home, "cylon"))
    os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    # Defer at once, and fire at once: no scheduler runs here, so the race that
    # [cylon] defer_hold_s works around cannot happen, and deferral is what is tested.
    os.environ.setdefault("AIRFLOW__CYLON__INLINE_WAIT_S", "0")
    os.environ.setdefault("AIRFLOW__CYLON__DEFER_HOLD_S", "0")
    return home


class RecordingTI:
    """The few task-instance members the operators use (xcom_push, try_number, map_index)."""

    def __init__(self, try_number: int = 1, map_index: int = -1) -> None:
        self.try_number = try_number
        self.map_index = map_index
        self.xcoms: dict[str, object] = {}

    def xcom_push(self, key: str, value: object) -> None:
        self.xcoms[key] = value


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
