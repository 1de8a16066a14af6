"""A DAG for the on_kill e2e test: one deferrable sort whose rank 0 takes ~60 s (the test marks it failed)."""
from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from airflow.sdk import DAG

from airflow_provider_cylon.operators import CylonSortOperator

ROOT = Path(os.environ.get("CYLON_EXAMPLE_DATA_ROOT", "/tmp/cylon-kill-e2e"))
# Read by the local workers this task process starts (fault injection: rank 0 sleeps before computing).
os.environ.setdefault("CYLON_TEST_STALL", "0:60")
if not (ROOT / "kill_in" / "part.parquet").exists():
    (ROOT / "kill_in").mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table({"k": [3, 1, 2]}), ROOT / "kill_in" / "part.parquet")

with DAG("cylon_kill_e2e", schedule=None, start_date=datetime(2026, 1, 1), catchup=False):
    CylonSortOperator(task_id="sort", source=str(ROOT / "kill_in"), by="k", destination=str(ROOT / "kill_out"),
                      parallelism=2, deferrable=True, poll_interval=0.5)
