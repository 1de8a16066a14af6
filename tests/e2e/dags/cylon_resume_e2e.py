"""A DAG for the resume-on-retry e2e test: one non-deferrable sort whose rank 0 takes ~25 s, retries=1.

The test SIGKILLs the task's process mid-job; the workers (their own sessions) run
on, and the retry must reconnect to them instead of fanning out again.
"""
from __future__ import annotations

import os
from datetime import datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from airflow.sdk import DAG

from airflow_provider_cylon.operators import CylonSortOperator

ROOT = Path(os.environ.get("CYLON_EXAMPLE_DATA_ROOT", "/tmp/cylon-resume-e2e"))
# Read by the local workers this task process starts (fault injection: rank 0 sleeps before computing).
os.environ.setdefault("CYLON_TEST_STALL", "0:25")
if not (ROOT / "resume_in" / "part.parquet").exists():
    (ROOT / "resume_in").mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table({"k": [5, 3, None, 1, 4, 2], "v": list("abcdef")}), ROOT / "resume_in" / "part.parquet")

with DAG("cylon_resume_e2e", schedule=None, start_date=datetime(2026, 1, 1), catchup=False):
    CylonSortOperator(task_id="sort", source=str(ROOT / "resume_in"), by="k", destination=str(ROOT / "resume_out"),
                      parallelism=2, deferrable=False, poll_interval=0.5, retries=1,
                      retry_delay=timedelta(seconds=2))
