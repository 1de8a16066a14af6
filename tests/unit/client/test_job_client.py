"""JobClient on a real Valkey with real local workers: submit, wait, snapshots, cancel, cleanup."""
from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from airflow_provider_cylon.client import JobClient, JobSnapshot, JobWatch
from airflow_provider_cylon.client.executors.local import LocalExecutor
from airflow_provider_cylon.runtime.errors import ExecutorError, JobFailedError, WorkerTimeoutError
from airflow_provider_cylon.runtime.protocol import JobKeys, abort_record, job_key
from airflow_provider_cylon.runtime.spec import JobSpec
from airflow_provider_cylon.runtime.worker import STALL_ENV


@pytest.fixture()
def sort_spec(tmp_path: Path) -> JobSpec:
    pq.write_table(pa.table({"k": [5, 3, None, 1, 4, 2]}), tmp_path / "in.parquet")
    return JobSpec.for_op("sort", [str(tmp_path / "in.parquet")], str(tmp_path / "out"), by=["k"], world_size=2,
                          timeout_s=60)


def test_submit_wait_and_cleanup_with_local_workers(redis_url: str, job_id: str, sort_spec: JobSpec) -> None:
    jobs = JobClient(redis_url, LocalExecutor)
    try:
        handle = jobs.submit(sort_spec, job_id)
        assert jobs.redis.exists(JobKeys(job_id).spec)
        progress: list[int] = []
        snap = jobs.wait(handle, 60, on_progress=lambda s: progress.append(s.done))
        assert isinstance(snap, JobSnapshot) and snap.state == "success" and snap.is_terminal
        assert snap.raise_for_failure()["rows"] == 6
        assert sorted(snap.statuses) == [0, 1] and progress  # read while waiting
        event = JobWatch(job_id, world_size=2).final_event(snap)
        assert event["status"] == "success" and [w["rank"] for w in event["workers"]] == [0, 1]
        assert jobs.cleanup(job_id) > 0
        assert jobs.cleanup(job_id) == 0  # idempotent
        assert jobs.snapshot(job_id).state == "running" and jobs.snapshot(job_id).world_size is None
    finally:
        jobs.close()


def test_cancel_stops_local_workers_and_records_the_reason(redis_url: str, job_id: str, sort_spec: JobSpec) -> None:
    jobs = JobClient(redis_url, lambda: LocalExecutor(env={STALL_ENV: "0:60"}))
    try:
        handle = jobs.submit(sort_spec, job_id)
        assert jobs.cancel(job_id, "cancelled by the test", handle=handle) is True
        assert jobs.cancel(job_id, "second cancel", handle=handle) is False  # the first record wins
        snap = jobs.snapshot(job_id, with_statuses=True)
        assert snap.state == "failed" and snap.failed_rank is None and snap.error == "cancelled by the test"
        for pid in handle.extra["pids"]:
            with pytest.raises(ProcessLookupError):
                os.kill(pid, 0)
        with pytest.raises(JobFailedError, match="cancelled by the test"):
            snap.raise_for_failure()
    finally:
        jobs.cleanup(job_id)
        jobs.close()


def test_wait_event_gives_none_while_running_then_the_event(redis_url: str, job_id: str) -> None:
    jobs = JobClient(redis_url)  # no executor: it watches, it cannot start workers
    with pytest.raises(ExecutorError, match="without an executor"):
        _ = jobs.executor
    jobs.redis.set(job_key(job_id, "spec"), json.dumps({"world_size": 1}), ex=60)
    watch = JobWatch(job_id, world_size=1, deadline=time.time() + 30)
    started = time.monotonic()
    assert jobs.wait_event(watch, time.time() + 0.3, poll_interval=0.05) is None
    assert time.monotonic() - started < 2
    jobs.redis.hset(job_key(job_id, "status"), "0", json.dumps({"rank": 0, "state": "ok"}))
    jobs.redis.sadd(job_key(job_id, "done"), "0")
    jobs.redis.set(job_key(job_id, "manifest"), json.dumps({"rows": 3}))
    event = jobs.wait_event(watch, time.time() + 5, poll_interval=0.05)
    assert event is not None and event["status"] == "success" and event["manifest"] == {"rows": 3}
    jobs.cleanup(job_id)
    jobs.close()


def test_async_snapshot_wait_and_cancel(redis_url: str, job_id: str) -> None:
    jobs = JobClient(redis_url)
    jobs.redis.set(job_key(job_id, "spec"), json.dumps({"world_size": 2}), ex=60)

    async def scenario() -> tuple[JobSnapshot, bool, dict[str, Any]]:
        before = await jobs.a_snapshot(job_id)
        first = await jobs.a_cancel(job_id, "async cancel")
        event = await jobs.a_wait_event(JobWatch(job_id, deadline=time.time() + 10), poll_interval=0.05)
        return before, first, event

    before, first, event = asyncio.run(scenario())
    assert before.state == "running" and before.world_size == 2 and first is True
    assert event["status"] == "error" and event["error"] == "async cancel" and event["rank"] is None
    for rank in range(2):  # every rank was woken
        assert jobs.redis.llen(JobKeys(job_id).wake_abort(rank)) == 1
    jobs.cleanup(job_id)
    jobs.close()


def test_state_rule_manifest_wins_and_a_dead_rank_fails() -> None:
    abort = json.loads(abort_record("late error", rank=1))
    assert JobSnapshot("j", {"rows": 1}, abort, done=2, world_size=2).state == "success"
    dead = JobSnapshot("j", None, None, done=0, world_size=2, dead_rank=(1, 20.0))
    assert dead.state == "failed" and dead.failed_rank == 1 and "stopped sending heartbeats" in dead.error
    running = JobSnapshot("j", None, None, done=1, world_size=2)
    with pytest.raises(WorkerTimeoutError, match="1 of 2 ranks reported"):
        running.raise_for_failure()


def test_status_of_a_submit_that_never_finished_starting_its_workers(redis_url: str, job_id: str,
                                                                      sort_spec: JobSpec) -> None:
    """Spec stored, no handle: the submitter died while starting workers; a retry must not wait on it."""
    jobs = JobClient(redis_url, LocalExecutor)
    try:
        keys = JobKeys(job_id)
        jobs.redis.set(keys.spec, sort_spec.to_json(), ex=60)
        assert jobs.status(job_id, sort_spec) == "failed"
        jobs.redis.set(keys.handle, json.dumps({}), ex=60)  # the workers all started
        assert jobs.status(job_id, sort_spec) == "running"
        jobs.cleanup(job_id)
        assert jobs.status(job_id, sort_spec) == "missing"
    finally:
        jobs.close()
