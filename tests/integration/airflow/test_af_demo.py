"""`make demo` (``cylon-airflow demo``): nightly_etl once, out of the box, with the per-worker summary."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration("redis")


def test_demo_runs_nightly_etl_and_prints_the_summary(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "CYLON_"))}
    result = subprocess.run([sys.executable, "-m", "airflow_provider_cylon.cli", "demo", "--home", str(tmp_path)],
                            capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    assert "nightly_etl 2026-01-15: success" in out
    for task_id in ("join_orders_customers", "revenue_per_country", "sort_by_revenue"):
        assert f"{task_id}: " in out
    assert out.count("  rank 0: rows in") == 3 and "revenue per country:" in out
    # The embedded Valkey was stopped at the end.
    from airflow_provider_cylon.client.embedded_valkey import running_embedded_url

    assert running_embedded_url(tmp_path / "cylon") is None
