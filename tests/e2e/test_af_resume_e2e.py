"""Resume on retry in a real Airflow: SIGKILL a non-deferrable task mid-job; the retry reconnects.

The task (retries=1) submits a sort whose rank 0 takes ~25 s; once its job is in
Redis the test SIGKILLs the task's process (a lost worker slot: no on_kill). The
workers run on; the retry finds the job id in the task-state store, sees it alive
and waits for it: one fan-out, one fencing token, the output published once.
"""
from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from conftest import running_airflow  # tests/e2e/conftest.py

pytestmark = pytest.mark.e2e

DAG_ID = "cylon_resume_e2e"
DAGS = Path(__file__).resolve().parent / "dags"


def _ti(server: Any, run_id: str) -> dict[str, Any]:
    return server.request("GET", f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/sort")


def test_sigkilled_task_retry_reconnects_and_publishes_once(tmp_path_factory: pytest.TempPathFactory) -> None:
    import pyarrow.parquet as pq
    import redis

    from airflow_provider_cylon.client.embedded_valkey import running_embedded_url
    from airflow_provider_cylon.runtime.protocol import destination_fence_key

    home = tmp_path_factory.mktemp("airflow-resume")
    env = {"AIRFLOW__CORE__DAGS_FOLDER": str(DAGS), "CYLON_DEFERRABLE": "False"}
    with running_airflow(home, env, idle_dags=(DAG_ID,)) as server:
        server.wait_for_dag(DAG_ID)
        run_id = "resume_e2e_1"
        server.request("POST", f"/api/v2/dags/{DAG_ID}/dagRuns", {"dag_run_id": run_id, "logical_date": None})
        end = time.monotonic() + 180
        client = None
        while True:  # the first try is running and its job's spec is in Redis
            ti = _ti(server, run_id)
            url = running_embedded_url(home / "cylon")
            client = redis.Redis.from_url(url, decode_responses=True) if url else None
            jobs = list(client.scan_iter(match="cylon:*:spec")) if client else []
            if ti["state"] == "running" and ti.get("pid") and jobs:
                break
            assert time.monotonic() < end, (ti, server.log_tail())
            time.sleep(0.5)
        first_job = jobs[0].split(":")[1]
        os.kill(int(ti["pid"]), signal.SIGKILL)  # the worker slot dies mid-job; its workers live on
        run = server.wait_for_run(DAG_ID, run_id, timeout=240)
        ti = _ti(server, run_id)
        assert run["state"] == "success" and ti["try_number"] == 2, (run, ti, server.log_tail())
        xcom = server.request("GET", f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/sort/xcomEntries/"
                                     "return_value")["value"]
        xcom = json.loads(xcom) if isinstance(xcom, str) else xcom
        out = home / "data" / "resume_out"
        manifest = json.loads((out / "_SUCCESS").read_text())
        assert xcom["job_id"] == first_job == manifest["job_id"]  # the retry waited for the first fan-out
        assert client.get(destination_fence_key(str(out))) == "1"  # one submission in all
        assert [w["rank"] for w in xcom["workers"]] == [0, 1] and xcom["rows"] == 6
        got = sum((pq.read_table(out / f["path"]).column("k").to_pylist()
                   for f in sorted(manifest["files"], key=lambda f: f["rank"])), [])
        assert got == [1, 2, 3, 4, 5, None]
        assert len(list(out.glob("part-*"))) == 2  # published once
