"""Workers that never start (no claim, so no heartbeat that could go stale) fail the job at the attach
deadline, not at its timeout; the ranks that did start are stopped. Real Valkey, one real worker."""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from airflow_provider_cylon.client import JobClient, JobWatch
from airflow_provider_cylon.client.executors.local import LocalExecutor
from airflow_provider_cylon.client.snapshot import ATTACH_TIMEOUT_ENV
from airflow_provider_cylon.runtime.protocol import JobKeys
from airflow_provider_cylon.runtime.spec import JobSpec


@pytest.fixture()
def spec(tmp_path: Path) -> JobSpec:
    pq.write_table(pa.table({"k": [3, 1, 2]}), tmp_path / "in.parquet")
    return JobSpec.for_op("sort", [str(tmp_path / "in.parquet")], str(tmp_path / "out"), by=["k"], world_size=2,
                          timeout_s=300)


def _start_one_of_two(redis_url: str, spec: JobSpec, job_id: str) -> tuple[JobClient, Any, LocalExecutor]:
    """Store a 2-worker spec but start one worker: the other is a Lambda invocation that never ran."""
    jobs = JobClient(redis_url)
    jobs.redis.set(JobKeys(job_id).spec, spec.to_json(), ex=600)
    executor = LocalExecutor()
    handle = executor.submit(job_id, 1, redis_url)
    return jobs, handle, executor


def test_the_watch_fails_a_job_whose_ranks_never_started(redis_url: str, job_id: str, spec: JobSpec,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ATTACH_TIMEOUT_ENV, "4")
    jobs, handle, executor = _start_one_of_two(redis_url, spec, job_id)
    try:
        watch = JobWatch(job_id, world_size=2, deadline=time.time() + 300)
        event = jobs.wait_event(watch, time.time() + 120, poll_interval=0.5)
        waited = time.time() - watch.started_at
        print(f"\nattach deadline 4 s: the watch failed the job after {waited:.1f}s")
        assert event is not None and event["status"] == "error" and event["rank"] is None
        assert "only 1 of 2 workers started within 4s of the submit" in event["error"]
        assert waited < 60  # not the 300 s timeout
        jobs.finish(job_id, "the watch gave up")  # what execute_complete does: abort, then delete the keys
        from airflow_provider_cylon.client.processes import process_alive as _alive

        pid = handle.extra["pids"][0]
        deadline = time.monotonic() + 30  # the started rank sees the abort (or the vanished spec) and exits
        while time.monotonic() < deadline and _alive(pid):
            time.sleep(0.1)
            try:
                os.waitpid(pid, os.WNOHANG)  # a cold worker is our child: reap it
            except ChildProcessError:
                pass
        assert not _alive(pid)
        assert jobs.redis.keys(f"cylon:{job_id}:*") == []
    finally:
        executor.close()
        jobs.cleanup(job_id)
        jobs.close()


def test_the_executor_wait_aborts_a_job_whose_ranks_never_started(redis_url: str, job_id: str, spec: JobSpec,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ATTACH_TIMEOUT_ENV, "4")
    jobs, handle, executor = _start_one_of_two(redis_url, spec, job_id)
    try:
        started = time.monotonic()
        snap = executor.wait(handle, 300)
        assert snap.state == "failed" and "only 1 of 2 workers started" in snap.error
        assert time.monotonic() - started < 60
    finally:
        executor.close()
        jobs.cleanup(job_id)
        jobs.close()


def test_a_job_whose_ranks_all_started_runs_past_it(redis_url: str, job_id: str, spec: JobSpec,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow_provider_cylon.runtime.worker import STALL_ENV

    monkeypatch.setenv(ATTACH_TIMEOUT_ENV, "10")
    jobs = JobClient(redis_url, lambda: LocalExecutor(env={STALL_ENV: "0:14"}))  # ends well after 10 s
    try:
        started = time.monotonic()
        snap = jobs.wait(jobs.submit(spec, job_id), 120)
        assert snap.state == "success" and time.monotonic() - started > 10
    finally:
        jobs.cleanup(job_id)
        jobs.close()
