"""Retries and kills in a real Airflow (api-server, scheduler, triggerer), on tests/e2e/dags.

* Resume: the task (non-deferrable, retries=1) submits a sort whose rank 0 takes
  ~25 s; once its job is in Redis the test SIGKILLs the task's process (a lost worker
  slot: no on_kill). The workers run on; the retry finds the job id in the task-state
  store, sees it alive and waits for it: one fan-out, one fencing token, the output
  published once.
* Kill: a deferred task marked failed through the REST API: the real triggerer calls
  the trigger's on_kill, which reads the task's state through the execution API
  (failed, not a reassignment), cancels the job and then deletes its keys.
"""
from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from collections.abc import Iterator
from typing import Any

import pytest

from conftest import running_airflow  # tests/e2e/conftest.py

pytestmark = pytest.mark.e2e

DAG_ID = "cylon_resume_e2e"
KILL_DAG_ID = "cylon_kill_e2e"
DAGS = Path(__file__).resolve().parent / "dags"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    env = {"AIRFLOW__CORE__DAGS_FOLDER": str(DAGS)}
    with running_airflow(tmp_path_factory.mktemp("airflow-resume"), env, idle_dags=(DAG_ID, KILL_DAG_ID)) as s:
        yield s


def _ti(server: Any, run_id: str, dag_id: str = DAG_ID) -> dict[str, Any]:
    return server.request("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/sort")


def _redis(server: Any) -> Any:
    import redis

    from airflow_provider_cylon.client.embedded_valkey import running_embedded_url

    url = running_embedded_url(server.home / "cylon")
    return redis.Redis.from_url(url, decode_responses=True) if url else None


def test_sigkilled_task_retry_reconnects_and_publishes_once(server: Any) -> None:
    import pyarrow.parquet as pq

    from airflow_provider_cylon.runtime.protocol import destination_fence_key

    home = server.home
    server.wait_for_dag(DAG_ID)
    run_id = "resume_e2e_1"
    server.request("POST", f"/api/v2/dags/{DAG_ID}/dagRuns", {"dag_run_id": run_id, "logical_date": None})
    end = time.monotonic() + 180
    while True:  # the first try is running and its job's spec is in Redis
        ti = _ti(server, run_id)
        client = _redis(server)
        jobs = list(client.scan_iter(match="cylon:*resume_e2e*:spec")) if client else []
        # killed once its workers all started (the handle is stored) and beat: a kill while
        # starting them makes the retry abort that job and submit again (test_job_client)
        started = jobs and client.exists(jobs[0].rsplit(":", 1)[0] + ":handle")
        if ti["state"] == "running" and ti.get("pid") and started \
                and client.zcard(jobs[0].rsplit(":", 1)[0] + ":heartbeats") == 2:
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


def test_marking_a_deferred_task_failed_cancels_its_job(server: Any) -> None:
    server.wait_for_dag(KILL_DAG_ID)
    run_id = "kill_e2e_1"
    server.request("POST", f"/api/v2/dags/{KILL_DAG_ID}/dagRuns", {"dag_run_id": run_id, "logical_date": None})
    end = time.monotonic() + 180
    while _ti(server, run_id, KILL_DAG_ID)["state"] != "deferred":
        assert time.monotonic() < end, server.log_tail()
        time.sleep(1)
    client = _redis(server)
    (spec_key,) = list(client.scan_iter(match="cylon:*kill_e2e*:spec"))
    abort_key = spec_key.rsplit(":", 1)[0] + ":abort"
    time.sleep(3)  # the trigger is running in the triggerer
    server.request("PATCH", f"/api/v2/dags/{KILL_DAG_ID}/dagRuns/{run_id}/taskInstances/sort",
                   {"new_state": "failed"})
    # The trigger's on_kill aborts the job (its workers stop), then deletes its keys once they went
    # quiet (at most 3 s): watch closely enough to see the abort record before it goes.
    prefix, seen = spec_key.rsplit(":", 1)[0] + ":", None
    end = time.monotonic() + 90
    while list(client.scan_iter(match=prefix + "*")):
        seen = seen or client.get(abort_key)
        if time.monotonic() >= end:
            left = {k: (client.type(k), client.ttl(k)) for k in client.scan_iter(match=prefix + "*")}
            raise AssertionError(f"the job was not cancelled and cleaned up after mark-failed; keys left {left}:\n"
                                 f"{server.log_tail()}")
        time.sleep(0.05)
    if seen is not None:
        record = json.loads(seen)
        assert record["rank"] is None and "trigger on_kill" in record["error"]
