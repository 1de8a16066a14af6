"""Every channel, 1-4 ranks in separate processes, against real Valkey and moto's S3.

Each rank checks by itself what it received (deterministic partitions, see
channel_worker.make_part): nulls, strings, a value larger than the chunk size,
empty partitions, lists and timestamps, a schema change between steps, three
successive steps. Afterwards no channel key and no step object may remain.
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
import redis

from channel_worker import STEPS

pytestmark = pytest.mark.integration("redis")

#: Small chunks so that the 150 KB value of step 0 and the ~1-3 MB partitions of step 1 span many keys.
CHUNK = 64 * 1024


def _cases() -> list[Any]:
    cases = []
    for transport in ("redis", "tcp", "s3"):
        for world in (1, 2, 3, 4):
            cases.append(pytest.param(transport, world, None, id=f"{transport}-W{world}"))
        cases.append(pytest.param(transport, 2, "lz4", id=f"{transport}-W2-lz4"))
        cases.append(pytest.param(transport, 3, "zstd", id=f"{transport}-W3-zstd"))
    cases.append(pytest.param("s3-file", 2, None, id="s3-file-W2"))
    cases.append(pytest.param("s3-file", 3, "lz4", id="s3-file-W3-lz4"))
    return cases


def _storage(transport: str, request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, Any]:
    if transport == "s3-file":
        return {"uri": (tmp_path / "shuffle").as_uri()}
    if transport != "s3":
        return {}
    server = request.getfixturevalue("s3_server")
    bucket = request.getfixturevalue("s3_bucket")
    return {
        "s3": {
            "endpoint_override": server.endpoint_override,
            "access_key": server.access_key,
            "secret_key": server.secret_key,
            "region": server.region,
            "path": f"{bucket}/shuffle",
        }
    }


def _leftover_objects(storage: dict[str, Any], request: pytest.FixtureRequest, tmp_path: Path) -> list[str]:
    """Every file / object the job left (an S3 "folder" marker of the shuffle prefix is not the job's)."""
    if "uri" in storage:
        return [str(p) for p in (tmp_path / "shuffle").rglob("*")]
    if "s3" in storage:
        bucket = storage["s3"]["path"].split("/")[0]
        listing = request.getfixturevalue("s3_server").boto3_client().list_objects_v2(Bucket=bucket)
        return [obj["Key"] for obj in listing.get("Contents", []) if obj["Key"] != "shuffle/"]
    return []


@pytest.mark.parametrize(("transport", "world_size", "compression"), _cases())
def test_all_to_all_exchanges_every_partition(
    start_ranks: Any,
    redis_url: str,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    transport: str,
    world_size: int,
    compression: str | None,
) -> None:
    storage = _storage(transport, request, tmp_path)
    group = start_ranks(
        transport.split("-")[0], world_size, storage=storage, compression=compression, chunk_bytes=CHUNK
    )
    results = group.wait()

    for rank, res in enumerate(results):
        assert res is not None and res["ok"], f"rank {rank}: {res}"
        assert res["checked"] == STEPS * world_size
    sent = sum(r["bytes_sent"] for r in results)
    assert sent == sum(r["bytes_received"] for r in results)
    assert (sent > 0) == (world_size > 1)
    client = redis.Redis.from_url(redis_url)
    assert client.keys(f"cylon:{group.job_id}:ch:*") == []
    assert _leftover_objects(storage, request, tmp_path) == []


def _set_abort(client: redis.Redis, job_id: str, rank: int | None, error: str) -> float:
    client.set(f"cylon:{job_id}:abort", json.dumps({"rank": rank, "error": error}), ex=300)
    return time.time()


@pytest.mark.parametrize("transport", ["redis", "tcp", "s3"])
def test_abort_from_another_process_stops_every_waiting_rank(
    start_ranks: Any, redis_url: str, request: pytest.FixtureRequest, tmp_path: Path, transport: str
) -> None:
    # Ranks 0 and 1 exchange; rank 2 never does, so both wait on it until the abort.
    storage = _storage(transport, request, tmp_path)
    group = start_ranks(
        transport, 3, scenarios=["once", "once", "idle"], storage=storage, timeout_s=120, poll_s=0.5, idle_s=60
    )
    group.wait_started([0, 1, 2])
    time.sleep(1.0)  # both are blocked in all_to_all by now
    client = redis.Redis.from_url(redis_url)
    aborted_at = _set_abort(client, group.job_id, 2, "RuntimeError: disk full on rank 2")
    results = group.wait(timeout_s=60)

    for rank in (0, 1):
        res = results[rank]
        assert res is not None and res["error_type"] == "ChannelAbortedError", res
        assert res["raised_at"] - aborted_at < 5.0, res
        assert res["failed_rank"] == 2 and res["step"] == 0
        assert 2 in (res["peer"] if isinstance(res["peer"], list) else [res["peer"]])
        assert f"job_id={group.job_id} rank={rank} step=0" in res["error"]
        assert "disk full on rank 2" in res["error"]
    # Whatever a failed step left behind expires on its own.
    for key in client.keys(f"cylon:{group.job_id}:ch:*"):
        assert 0 < client.ttl(key) <= 300


def test_abort_wake_list_interrupts_a_long_poll(start_ranks: Any, redis_url: str) -> None:
    # poll_s is 30 s: only the runtime's wake:abort:{rank} push can end the wait this early.
    group = start_ranks("redis", 2, scenarios=["once", "idle"], timeout_s=120, poll_s=30, idle_s=60)
    group.wait_started([0, 1])
    time.sleep(0.5)
    client = redis.Redis.from_url(redis_url)
    aborted_at = _set_abort(client, group.job_id, None, "killed by the operator")
    client.rpush(f"cylon:{group.job_id}:wake:abort:0", "1")
    res = group.wait(timeout_s=60)[0]
    assert res is not None and res["error_type"] == "ChannelAbortedError", res
    assert res["raised_at"] - aborted_at < 3.0
    assert res["failed_rank"] is None


@pytest.mark.parametrize("transport", ["redis", "tcp", "s3"])
def test_timeout_names_the_missing_peer(
    start_ranks: Any, redis_url: str, request: pytest.FixtureRequest, tmp_path: Path, transport: str
) -> None:
    storage = _storage(transport, request, tmp_path)
    group = start_ranks(transport, 2, scenarios=["once", "idle"], storage=storage, timeout_s=1.5, idle_s=60)
    group.wait_started([0])
    started = time.time()
    res = group.wait_result(0)
    _set_abort(redis.Redis.from_url(redis_url), group.job_id, None, "test over")  # releases the idle rank
    group.wait(timeout_s=60)
    assert res is not None and res["error_type"] == "ChannelTimeoutError", res
    assert 1.0 <= res["raised_at"] - started < 6.0
    assert res["peer"] in (1, [1]) and res["step"] == 0
    assert "timed out after 1.5s" in res["error"]


def test_tcp_peer_death_fails_fast(start_ranks: Any) -> None:
    group = start_ranks("tcp", 2, scenarios=["once", "die"], timeout_s=60)
    group.wait_started([0, 1])
    started = time.time()
    res = group.wait(timeout_s=60)[0]
    assert res is not None and res["error_type"] == "ChannelError", res
    assert res["raised_at"] - started < 5.0
    assert res["peer"] == 1
    assert "closed the connection" in res["error"] or "failed after" in res["error"]
