"""JobSnapshot: reading the contract's keys (bytes or str clients), failure details, worker summaries."""
from __future__ import annotations

import json
from typing import Any

import pytest

from airflow_provider_cylon.client.snapshot import JobSnapshot, read_job_state
from airflow_provider_cylon.runtime.protocol import job_key


def test_failure_details_prefer_the_ranks_own_status() -> None:
    snap = JobSnapshot("j", None, {"rank": 1, "error": "rank 1 failed in read: FileNotFoundError: x\nTraceback..."},
                       done=2, world_size=2,
                       statuses={1: {"error": "rank 1 failed in read: FileNotFoundError: x", "traceback": "TB"}})
    assert snap.failure_details() == {"rank": 1, "error": "rank 1 failed in read: FileNotFoundError: x",
                                      "traceback": "TB"}


def test_failure_details_split_an_abort_text_without_status() -> None:
    snap = JobSnapshot("j", None, {"rank": None, "error": "submit failed: boom\nline 2"}, done=0, world_size=None)
    assert snap.failure_details() == {"rank": None, "error": "submit failed: boom", "traceback": "line 2"}


@pytest.mark.parametrize("decode", [False, True])
def test_read_job_state_with_bytes_or_str_clients(redis_url: str, job_id: str, decode: bool) -> None:
    import redis

    client: Any = redis.Redis.from_url(redis_url, decode_responses=decode)
    client.set(job_key(job_id, "spec"), json.dumps({"world_size": 3}))
    client.sadd(job_key(job_id, "done"), "0", "2")
    client.hset(job_key(job_id, "status"), mapping={"2": json.dumps({"state": "ok", "traceback": "x" * 10_000}),
                                                    "0": json.dumps({"state": "ok"})})
    client.sadd(job_key(job_id, "barrier:read"), "0")
    snap = read_job_state(client, job_id, barrier="read", with_statuses=True)
    assert (snap.world_size, snap.done, snap.barrier_count, snap.manifest, snap.abort) == (3, 2, 1, None, None)
    workers = snap.worker_summaries()
    assert [w["rank"] for w in workers] == [0, 2] and len(workers[1]["traceback"]) == 8000


def _heartbeats(client: Any, job_id: str, timeout_s: float, ages: dict[str, float]) -> None:
    seconds, micros = client.time()
    now = int(seconds) + int(micros) / 1e6
    client.set(job_key(job_id, "spec"), json.dumps({"world_size": 3, "heartbeat_timeout_s": timeout_s}))
    client.zadd(job_key(job_id, "heartbeats"), {rank: now - age for rank, age in ages.items()})


def test_a_rank_whose_heartbeat_stopped_fails_the_watch_naming_it(redis_url: str, job_id: str) -> None:
    import redis

    from airflow_provider_cylon.client.watch import JobWatch

    client: Any = redis.Redis.from_url(redis_url)
    _heartbeats(client, job_id, 2.0, {"0": 0.1, "2": 6.0, "1": 0.5})
    snap = read_job_state(client, job_id, with_statuses=True)
    assert snap.dead_rank is not None and snap.dead_rank[0] == 2 and 5.5 < snap.dead_rank[1] < 7
    watch = JobWatch(job_id)
    assert watch.observe(snap) == "error"
    event = watch.event("error", snap)
    assert event["rank"] == 2 and "stopped sending heartbeats" in event["error"]
    # an abort record (set by a peer that saw it first) wins over the derived text
    client.set(job_key(job_id, "abort"), json.dumps({"rank": 2, "error": "rank 2 stopped sending heartbeats (peer)"}))
    assert "(peer)" in read_job_state(client, job_id).failure_details()["error"]


@pytest.mark.parametrize("timeout_s,ages", [(2.0, {"0": 0.2, "1": 1.0}), (0.0, {"0": 60.0})])
def test_fresh_heartbeats_or_heartbeats_off_keep_waiting(redis_url: str, job_id: str, timeout_s: float,
                                                           ages: dict[str, float]) -> None:
    import redis

    from airflow_provider_cylon.client.watch import JobWatch

    client: Any = redis.Redis.from_url(redis_url, decode_responses=True)
    _heartbeats(client, job_id, timeout_s, ages)
    snap = read_job_state(client, job_id)
    assert snap.dead_rank is None and JobWatch(job_id).observe(snap) is None


async def test_the_async_read_sees_a_dead_rank_too(redis_url: str, job_id: str) -> None:
    import redis
    import redis.asyncio

    from airflow_provider_cylon.client.snapshot import a_read_job_state

    _heartbeats(redis.Redis.from_url(redis_url), job_id, 1.0, {"1": 3.0})
    client = redis.asyncio.Redis.from_url(redis_url)
    try:
        snap = await a_read_job_state(client, job_id)
    finally:
        await client.aclose()
    assert snap.dead_rank is not None and snap.dead_rank[0] == 1 and snap.failed_rank == 1
