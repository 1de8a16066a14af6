"""Failures and redelivery: a killed worker, a raising worker, a timeout, a duplicate event."""
from __future__ import annotations

import os
import signal
import threading
import time
import uuid

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from airflow_provider_cylon.client.executors.local import LocalExecutor
from airflow_provider_cylon.client.run import run_job
from airflow_provider_cylon.client.snapshot import read_job_state
from airflow_provider_cylon.runtime import storage
from airflow_provider_cylon.runtime.bootstrap import JobCoordinator, connect
from airflow_provider_cylon.runtime.errors import JobFailedError
from airflow_provider_cylon.runtime.handler import lambda_handler
from airflow_provider_cylon.runtime.spec import JobSpec
from airflow_provider_cylon.runtime.worker import STALL_ENV

pytestmark = pytest.mark.integration("redis")


@pytest.fixture()
def inputs(tmp_path) -> tuple[str, str]:
    pq.write_table(pa.table({"k": list(range(2000)), "a": list(range(2000))}), tmp_path / "l.parquet",
                   row_group_size=200)
    pq.write_table(pa.table({"k": list(range(0, 4000, 2)), "b": list(range(2000))}), tmp_path / "r.parquet",
                   row_group_size=200)
    return str(tmp_path / "l.parquet"), str(tmp_path / "r.parquet")


def _spec(inputs: tuple[str, str], dest: str, channel: str = "redis") -> JobSpec:
    return JobSpec.for_op("join", list(inputs), dest, on="k", channel=channel, broadcast_threshold_bytes=0,
                          timeout_s=60)


def _job_id() -> str:
    return f"fail-{uuid.uuid4().hex[:10]}"


def _signal_rank_mid_shuffle(executor: LocalExecutor, coordinator: JobCoordinator, handle, rank: int,
                             sig: signal.Signals, world: int = 3) -> tuple[object, float]:
    """Send ``sig`` to ``rank``'s process once its peers wait in the exchange; (outcome, seconds to it)."""
    deadline = time.monotonic() + 30
    victim = None
    while victim is None and time.monotonic() < deadline:
        for event, pid in zip(handle.events, handle.extra["pids"]):
            if coordinator.client.get(coordinator.keys.claim(event.invocation_id)) == str(rank).encode():
                victim = pid
        time.sleep(0.05)
    assert victim is not None, f"rank {rank} never claimed"
    # wait until the peers are past the read barrier (i.e. inside the exchange)
    while coordinator.client.scard(coordinator.keys.barrier("read")) < world and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)
    os.kill(victim, sig)
    hit_at = time.monotonic()
    outcome = executor.wait(handle, 60)
    return outcome, time.monotonic() - hit_at


@pytest.mark.parametrize("channel", ["redis", "tcp"])
def test_worker_killed_mid_shuffle_fails_fast_naming_rank(inputs, tmp_path, redis_url: str, channel: str) -> None:
    dest = str(tmp_path / "out")
    first = run_job(_spec(inputs, dest, channel), world_size=3, redis_url=redis_url)  # a previous good output
    job_id = _job_id()
    coordinator = JobCoordinator(connect(redis_url), job_id)
    spec = _spec(inputs, dest, channel).with_(world_size=3)
    coordinator.put_spec(spec)
    executor = LocalExecutor(env={STALL_ENV: "1:60"})  # rank 1 stalls; ranks 0 and 2 wait in the shuffle
    handle = executor.submit(job_id, 3, redis_url)
    try:
        outcome, elapsed = _signal_rank_mid_shuffle(executor, coordinator, handle, 1, signal.SIGKILL)
    finally:
        executor.close()
    assert outcome.state == "failed"
    assert outcome.failed_rank == 1 and "SIGKILL" in outcome.error, outcome.error
    assert elapsed < 8, f"failure took {elapsed:.1f}s to surface"
    # the peers stopped on the abort and said so
    assert {r: s["state"] for r, s in outcome.statuses.items()} == {0: "error", 2: "error"}
    assert all(code is not None for code in handle.extra["exit_codes"].values())  # nothing left running
    with pytest.raises(JobFailedError, match="rank 1"):
        outcome.raise_for_failure()
    # nothing published: the previous output and manifest are intact, no staging left
    assert storage.read_manifest(dest)["job_id"] == first["job_id"]
    assert storage.read_output(dest).num_rows == first["rows"]
    assert not os.path.exists(os.path.join(dest, "_staging", job_id))
    coordinator.cleanup()
    assert coordinator.job_keys() == []


def test_raising_worker_aborts_job_with_its_error(inputs, tmp_path, redis_url: str) -> None:
    spec = JobSpec.for_op("groupby", [inputs[0]], str(tmp_path / "o"), by="nope", aggs={"a": "sum"}, timeout_s=60)
    job_id = _job_id()
    start = time.monotonic()
    with pytest.raises(JobFailedError) as info:
        run_job(spec, world_size=2, redis_url=redis_url, job_id=job_id)
    assert time.monotonic() - start < 20
    assert info.value.failed_rank in (0, 1)
    assert "nope" in info.value.error and "Traceback" in info.value.error
    assert not os.path.exists(tmp_path / "o" / "_SUCCESS")
    assert JobCoordinator(connect(redis_url), job_id).job_keys() == []  # run_job cleaned up


def test_function_timeout_kills_the_worker(inputs, tmp_path, redis_url: str) -> None:
    job_id = _job_id()
    coordinator = JobCoordinator(connect(redis_url), job_id)
    coordinator.put_spec(_spec(inputs, str(tmp_path / "o")).with_(world_size=2))
    with LocalExecutor(function_timeout_s=4, env={STALL_ENV: "0:60"}) as executor:
        handle = executor.submit(job_id, 2, redis_url)
        outcome = executor.wait(handle, 30)
    assert outcome.state == "failed"
    # either the executor killed stalled rank 0 at the function timeout, or its peer's
    # remaining-time budget ran out first while waiting on it: both name rank 0
    assert outcome.failed_rank == 0 or "peer=0" in outcome.error, outcome.error
    assert "function timeout" in outcome.error or "Timeout" in outcome.error, outcome.error
    coordinator.cleanup()


def test_duplicate_delivery_gives_identical_output(inputs, tmp_path, redis_url: str) -> None:
    reference = run_job(_spec(inputs, str(tmp_path / "ref")), world_size=2, redis_url=redis_url)
    dest = str(tmp_path / "dup")
    job_id = _job_id()
    coordinator = JobCoordinator(connect(redis_url), job_id)
    coordinator.put_spec(_spec(inputs, dest).with_(world_size=2))
    duplicate: dict = {}
    with LocalExecutor() as executor:
        handle = executor.submit(job_id, 2, redis_url)
        # the same event delivered a second time, at the same moment (at-least-once delivery)
        thread = threading.Thread(target=lambda: duplicate.update(lambda_handler(handle.events[0].to_dict())))
        thread.start()
        outcome = executor.wait(handle, 60)
        thread.join(30)
    assert outcome.state == "success", outcome.error
    assert sorted(s["invocation_id"] for s in outcome.statuses.values()) == sorted(
        e.invocation_id for e in handle.events)
    states = [duplicate["state"]] + [s["state"] for s in outcome.statuses.values()]
    assert states.count("duplicate") == 1 or duplicate["state"] == "ok", states
    got = storage.read_output(dest)
    want = storage.read_output(str(tmp_path / "ref"))
    assert got.num_rows == want.num_rows == reference["rows"]
    assert sorted(got.to_pylist(), key=str) == sorted(want.to_pylist(), key=str)
    coordinator.cleanup()
    # a late redelivery after cleanup finds no spec and does nothing
    late = lambda_handler(handle.events[1].to_dict())
    assert late["state"] == "skipped"
    assert storage.read_manifest(dest)["job_id"] == job_id
    assert coordinator.job_keys() == []


def test_memory_limit_is_applied_to_workers(inputs, tmp_path, redis_url: str) -> None:
    # 64 MiB of address space cannot even hold pyarrow: the limit reaches the worker
    with pytest.raises(JobFailedError, match="exited with code") as info:
        run_job(_spec(inputs, str(tmp_path / "o")), world_size=2, redis_url=redis_url, memory_mb=64)
    assert "invocation" in str(info.value)
    assert not os.path.exists(tmp_path / "o" / "_SUCCESS")


def test_cancel_stops_every_worker_within_seconds(inputs, tmp_path, redis_url: str) -> None:
    job_id = _job_id()
    coordinator = JobCoordinator(connect(redis_url), job_id)
    coordinator.put_spec(_spec(inputs, str(tmp_path / "o")).with_(world_size=3))
    with LocalExecutor(env={STALL_ENV: "2:60"}) as executor:
        handle = executor.submit(job_id, 3, redis_url)
        while coordinator.client.scard(coordinator.keys.barrier("read")) < 3:
            time.sleep(0.05)
        start = time.monotonic()
        executor.cancel(handle, "on_kill from the test")
        assert time.monotonic() - start < 5
    for pid in handle.extra["pids"]:  # every worker is gone (and reaped)
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    outcome = read_job_state(coordinator.client, job_id, with_statuses=True)
    assert outcome.state == "failed" and "on_kill from the test" in outcome.error
    assert outcome.failed_rank is None
    coordinator.cleanup()


def test_a_silently_dead_worker_is_named_by_its_missing_heartbeat(inputs, tmp_path, redis_url: str) -> None:
    # SIGSTOP: the process lives on (the local executor sees nothing), as a vanished Lambda
    # would; only the heartbeats tell the peers that rank 1 is gone.
    job_id = _job_id()
    coordinator = JobCoordinator(connect(redis_url), job_id)
    coordinator.put_spec(_spec(inputs, str(tmp_path / "o"), "tcp").with_(world_size=3, heartbeat_timeout_s=2.0))
    executor = LocalExecutor(env={STALL_ENV: "1:60"})
    handle = executor.submit(job_id, 3, redis_url)
    try:
        outcome, elapsed = _signal_rank_mid_shuffle(executor, coordinator, handle, 1, signal.SIGSTOP)
    finally:
        executor.close()  # SIGKILL reaches a stopped process too
    assert outcome.state == "failed"
    assert outcome.failed_rank == 1 and "stopped sending heartbeats" in outcome.error, outcome.error
    # found after 2-3 s; the executor then gives the stopped process (which cannot exit) its 5 s grace
    assert 2.0 <= elapsed < 12, f"took {elapsed:.1f}s"
    assert outcome.statuses[0]["phase"] == "compute"  # the peers were inside the exchange
    assert {r: s["state"] for r, s in outcome.statuses.items()} == {0: "error", 2: "error"}
    coordinator.cleanup()


def test_with_no_peer_left_the_submitter_names_the_silent_rank(inputs, tmp_path, redis_url: str) -> None:
    # A single worker stops (as a Lambda that vanished): nobody else waits in a barrier,
    # so the submitter's wait (client.snapshot.wait_for_final) must see the stale heartbeat itself.
    job_id = _job_id()
    coordinator = JobCoordinator(connect(redis_url), job_id)
    coordinator.put_spec(_spec(inputs, str(tmp_path / "o")).with_(world_size=1, heartbeat_timeout_s=1.5))
    executor = LocalExecutor(env={STALL_ENV: "0:60"})
    handle = executor.submit(job_id, 1, redis_url)
    try:
        outcome, elapsed = _signal_rank_mid_shuffle(executor, coordinator, handle, 0, signal.SIGSTOP, world=1)
    finally:
        executor.close()
    assert outcome.state == "failed" and outcome.failed_rank == 0, outcome.error
    # found after ~2 s; the executor then gives a process that cannot exit its 5 s grace
    assert "stopped sending heartbeats" in outcome.error and elapsed < 10, (elapsed, outcome.error)
    coordinator.cleanup()


def test_a_slow_worker_is_not_a_dead_one(inputs, tmp_path, redis_url: str) -> None:
    # rank 0 sleeps 3 s (three heartbeat timeouts) before computing: its thread keeps beating.
    spec = _spec(inputs, str(tmp_path / "o")).with_(heartbeat_timeout_s=1.0)
    executor = LocalExecutor(env={STALL_ENV: "0:3"})
    manifest = run_job(spec, world_size=2, redis_url=redis_url, executor=executor)
    assert manifest["rows"] == 1000
