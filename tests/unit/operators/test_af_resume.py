"""Resume on retry (ResumableJobMixin + the task-state store) and fencing, with real local workers on a real Valkey.

A "crash" is the earlier try stopping after submit (what the mixin persists before it
polls) while its workers run on, as they do when a worker slot dies in the
non-deferrable mode; the retry is a fresh operator instance with the next try number
and the same task-state store.
"""
from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from cylon_airflow_support import RecordingTI, TaskStateStore

from airflow_provider_cylon.client import JobClient
from airflow_provider_cylon.exceptions import CylonJobFailedError
from airflow_provider_cylon.operators import CylonSortOperator
from airflow_provider_cylon.operators.base import XCOM_JOB_ID_KEY
from airflow_provider_cylon.runtime import storage
from airflow_provider_cylon.runtime.bootstrap import JobCoordinator, connect
from airflow_provider_cylon.runtime.errors import FencedOffError
from airflow_provider_cylon.runtime.protocol import JobKeys, destination_fence_key
from airflow_provider_cylon.runtime.worker import STALL_ENV


@pytest.fixture()
def table_dir(tmp_path: Path) -> Path:
    (tmp_path / "in").mkdir()
    pq.write_table(pa.table({"k": [5, 3, None, 1, 4, 2], "v": list("abcdef")}), tmp_path / "in/part.parquet")
    return tmp_path


def _op(table_dir: Path, **kwargs: Any) -> CylonSortOperator:
    return CylonSortOperator(task_id="sort", source=str(table_dir / "in"), by="k", destination=str(table_dir / "out"),
                             parallelism=2, deferrable=False, poll_interval=0.1, **kwargs)


def _context(store: TaskStateStore, try_number: int) -> dict[str, Any]:
    return {"ti": RecordingTI(try_number=try_number, task_id="sort"), "run_id": "manual__resume",
            "task_state_store": store}


def _crash_after_submit(op: CylonSortOperator, context: dict[str, Any]) -> dict[str, Any]:
    """What the mixin does before polling; then the try's process 'dies' (its workers live on)."""
    external_id = op.submit_job(context)
    context["task_state_store"].set(op.external_id_key, external_id)
    return external_id


def _fences(cylon_conn: str, destination: Path) -> int:
    return int(JobClient(cylon_conn).redis.get(destination_fence_key(str(destination))) or 0)


def test_retry_reconnects_to_the_live_job_and_publishes_once(cylon_conn: str, table_dir: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(STALL_ENV, "0:3")  # rank 0 is still working when the retry starts
    store = TaskStateStore()
    first = _crash_after_submit(_op(table_dir), _context(store, 1))
    retry_context = _context(store, 2)
    result = _op(table_dir).execute(retry_context)
    assert result["job_id"] == first["job_id"] and result["rows"] == 6
    assert _fences(cylon_conn, table_dir / "out") == 1  # one submission: the retry started no workers
    assert XCOM_JOB_ID_KEY not in retry_context["ti"].xcoms  # and recorded no second job
    manifest = storage.read_manifest(str(table_dir / "out"))
    assert manifest["job_id"] == first["job_id"]
    parts = sorted(p.name for p in (table_dir / "out").glob("part-*"))
    assert len(parts) == 2 and [f["path"] for f in sorted(manifest["files"], key=lambda f: f["path"])] == parts
    got = sum((pq.read_table(table_dir / "out" / f["path"]).column("k").to_pylist()
               for f in sorted(manifest["files"], key=lambda f: f["rank"])), [])
    assert got == [1, 2, 3, 4, 5, None]

    # A retry after that success returns the same job's result and starts nothing (keys already cleaned).
    again = _op(table_dir).execute(_context(store, 3))
    assert again["job_id"] == first["job_id"] and again["rows"] == 6
    assert _fences(cylon_conn, table_dir / "out") == 1


def test_retry_of_a_dead_job_aborts_it_and_submits_again(cylon_conn: str, table_dir: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(STALL_ENV, "0:60")
    store = TaskStateStore()
    op = _op(table_dir, heartbeat_timeout=1.0)
    first = _crash_after_submit(op, _context(store, 1))
    beats = JobClient(cylon_conn).redis
    deadline = time.monotonic() + 60
    while beats.zcard(JobKeys(first["job_id"]).heartbeats) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)  # every rank attached (a cold worker may take more than a second here)
    for pid in op._handle.extra["pids"]:  # the node is lost: every worker dies without a word
        os.killpg(pid, signal.SIGKILL)
    time.sleep(2.0)  # its heartbeats go stale
    monkeypatch.delenv(STALL_ENV)
    result = _op(table_dir, heartbeat_timeout=1.0).execute(_context(store, 2))
    assert result["job_id"] != first["job_id"] and result["job_id"].endswith("-f2") and result["rows"] == 6
    assert first["job_id"].endswith("-f1") and store.get("cylon_job")["job_id"] == result["job_id"]
    client = JobClient(cylon_conn)
    assert client.snapshot(first["job_id"]).world_size is None  # the dead job's keys were cleaned up
    assert storage.read_manifest(str(table_dir / "out"))["job_id"] == result["job_id"]


def test_an_older_fan_out_is_fenced_off_at_commit(cylon_conn: str, table_dir: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Two fan-outs on one destination: the one a later submission superseded never publishes."""
    monkeypatch.setenv(STALL_ENV, "0:2")
    store = TaskStateStore()
    old = _op(table_dir)
    first = _crash_after_submit(old, _context(store, 1))
    # A later submission for the same destination takes a new token while the old one computes.
    newer = JobClient(cylon_conn).next_fence(str(table_dir / "out"))
    assert newer == 2
    snap = old.hook.job_client.wait(old._handle, 60)
    assert snap.state == "failed" and "a later submission took destination" in snap.error, snap.error
    assert storage.read_manifest(str(table_dir / "out")) is None  # nothing published
    event = {"status": "error", "job_id": first["job_id"], "rank": snap.failed_rank, "error": snap.error}
    with pytest.raises(CylonJobFailedError, match="later submission"):
        old.execute_complete(_context(store, 1), event)


def test_fence_check_on_the_coordinator(redis_url: str, job_id: str) -> None:
    jobs = JobClient(redis_url)
    destination = f"s3://bucket/{job_id}/"
    older, newer = jobs.next_fence(destination), jobs.next_fence(destination)
    a, b = JobCoordinator(connect(redis_url), f"{job_id}-a"), JobCoordinator(connect(redis_url), f"{job_id}-b")
    a.client.set(a.keys.fence, str(older))
    b.client.set(b.keys.fence, str(newer))
    with pytest.raises(FencedOffError, match=json.dumps(destination).strip('"')):
        a.check_fence(destination)
    b.check_fence(destination)  # the latest submission commits
    JobCoordinator(connect(redis_url), f"{job_id}-c").check_fence(destination)  # no token: not fenced
    for c in (a, b):
        c.cleanup()
