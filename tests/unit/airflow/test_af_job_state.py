"""JobSnapshot: reading the contract's keys (bytes or str clients), failure details, worker summaries."""
from __future__ import annotations

import json
from typing import Any

import pytest

from airflow_provider_cylon.hooks.job_state import JobSnapshot, job_key, read_job_state


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
