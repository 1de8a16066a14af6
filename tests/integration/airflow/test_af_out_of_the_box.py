"""No connection at all: local workers, the embedded Valkey, local files."""
from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pytest
from cylon_dag_support import load_dag

pytestmark = pytest.mark.integration("redis")


def test_nightly_etl_runs_with_no_connection(airflow_db: str, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow_provider_cylon.client.embedded_valkey import running_embedded_url, stop_embedded_valkey

    monkeypatch.delenv("AIRFLOW_CONN_CYLON_DEFAULT", raising=False)
    state = tmp_path / "cylon-state"
    monkeypatch.setenv("CYLON_STATE_DIR", str(state))
    dag = load_dag("nightly_etl.py", tmp_path / "data", monkeypatch)
    try:
        run = dag.test(logical_date=datetime(2026, 11, 23, tzinfo=timezone.utc))
        assert run.state == "success"
        assert running_embedded_url(state) is not None  # the embedded Valkey served the jobs
        manifest = json.loads((tmp_path / "data/reports/revenue_per_country/2026-11-23/_SUCCESS").read_text())
        assert manifest["rows"] == 9
    finally:
        stop_embedded_valkey(state)
    assert running_embedded_url(state) is None
