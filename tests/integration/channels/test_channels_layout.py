"""What the transports leave in Redis and storage while a step is in flight (in-process ranks).

Rank 0 exchanges in a thread and waits for the others; meanwhile the test
looks at its keys and objects, then lets the other ranks run.
"""
from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
import redis

from airflow_provider_cylon.runtime.channels import (
    ChannelContext,
    ChannelTimeoutError,
    RedisChannel,
    S3Channel,
    make_channel,
    purge_objects,
)
from airflow_provider_cylon.runtime.channels import redis as redis_channel
from airflow_provider_cylon.runtime.channels.ipc import serialize

pytestmark = pytest.mark.integration("redis")


def _ctx(redis_url: str, job_id: str, rank: int, world: int, **kw: Any) -> ChannelContext:
    return ChannelContext(job_id=job_id, rank=rank, world_size=world, redis=redis.Redis.from_url(redis_url), **kw)


def _in_thread(fn: Callable[[], Any]) -> tuple[threading.Thread, dict[str, Any]]:
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = fn()
        except BaseException as err:  # re-raised by the test
            box["error"] = err

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, box


def _wait_for(cond: Callable[[], bool], what: str, timeout_s: float = 20) -> None:
    end = time.monotonic() + timeout_s
    while not cond():
        assert time.monotonic() < end, f"timed out waiting for {what}"
        time.sleep(0.02)


@pytest.mark.parametrize("batch_chunks", [1, 7, 10_000])
def test_redis_values_never_exceed_the_chunk_size(
    redis_url: str, monkeypatch: pytest.MonkeyPatch, batch_chunks: int
) -> None:
    job = f"layout-{uuid.uuid4().hex[:8]}"
    chunk = 4096
    # The receiver fetches chunks in pipelines of batch_chunks.
    monkeypatch.setattr(redis_channel, "FETCH_BATCH_BYTES", batch_chunks * chunk)
    part = pa.table({"x": pa.array(range(20_000), pa.int64()), "s": [f"row{i}" for i in range(20_000)]})
    nbytes = serialize(part).size
    sender = RedisChannel(_ctx(redis_url, job, 0, 2, chunk_bytes=chunk))
    thread, box = _in_thread(lambda: sender.all_to_all([pa.table({"x": pa.array([], pa.int64())}), part]))
    client = redis.Redis.from_url(redis_url)
    _wait_for(lambda: client.exists(f"cylon:{job}:ch:0:w:1"), "rank 0's wake-up message")

    data_keys = client.keys(f"cylon:{job}:ch:0:d:0:1:*")
    assert len(data_keys) == -(-nbytes // chunk) > 50
    assert max(client.strlen(k) for k in data_keys) == chunk
    assert all(0 < client.ttl(k) <= 3600 for k in [*data_keys, f"cylon:{job}:ch:0:w:1"])

    receiver = RedisChannel(_ctx(redis_url, job, 1, 2, chunk_bytes=chunk))
    got = receiver.all_to_all([pa.table({"y": [1]}), pa.table({"y": [2]})])
    thread.join(20)
    assert "error" not in box, box
    assert got[0].equals(part)
    assert box["value"][0].num_rows == 0 and box["value"][1].equals(pa.table({"y": [1]}))
    assert receiver.bytes_received == nbytes == sender.bytes_sent
    assert client.keys(f"cylon:{job}:ch:*") == []


def test_s3_writes_one_object_per_sender_per_step(redis_url: str, tmp_path: Path) -> None:
    job = f"layout-{uuid.uuid4().hex[:8]}"
    world = 4
    base = tmp_path / "shuffle"
    parts = [[pa.table({"v": [src * 10 + dst] * (dst + 1)}) for dst in range(world)] for src in range(world)]
    channels = [S3Channel(_ctx(redis_url, job, r, world, storage_path=base.as_uri())) for r in range(world)]
    running = [_in_thread(lambda r=r: channels[r].all_to_all(parts[r])) for r in range(world - 1)]
    # Ranks 0-2 wrote their step objects and wait for rank 3, which has read nothing yet.
    step_dir = base / f"cylon-{job}-s000000"
    _wait_for(lambda: step_dir.exists() and len(list(step_dir.iterdir())) == world - 1, "3 step objects")
    assert [p.name for p in base.iterdir()] == [step_dir.name]  # one folder per step
    assert sorted(p.name for p in step_dir.iterdir()) == [f"r{r:05d}.arrows" for r in range(world - 1)]

    last = channels[world - 1].all_to_all(parts[world - 1])
    for thread, box in running:
        thread.join(20)
        assert "error" not in box, box
    results = [box["value"] for _, box in running] + [last]
    for dst in range(world):
        for src in range(world):
            assert results[dst][src].equals(parts[src][dst])
    assert list(base.iterdir()) == []  # the last rank to finish reading deleted the step's folder
    assert redis.Redis.from_url(redis_url).keys(f"cylon:{job}:ch:*") == []


def test_successive_steps_on_one_channel_do_not_mix(redis_url: str) -> None:
    # Rank 1 may post step 1 before rank 0 has read step 0: keys carry the step, so nothing mixes.
    job = f"layout-{uuid.uuid4().hex[:8]}"
    ch0 = make_channel("redis", _ctx(redis_url, job, 0, 2))
    ch1 = make_channel("redis", _ctx(redis_url, job, 1, 2))
    thread, box = _in_thread(
        lambda: [ch1.all_to_all([pa.table({"s": [step]}), pa.table({"s": [-1]})]) for step in range(2)]
    )
    first = ch0.all_to_all([pa.table({"s": [-1]}), pa.table({"s": [100]})])
    second = ch0.all_to_all([pa.table({"s": [-1]}), pa.table({"s": [101]})])
    thread.join(20)
    assert "error" not in box, box
    assert first[1].column("s").to_pylist() == [0] and second[1].column("s").to_pylist() == [1]
    assert [r[0].column("s").to_pylist() for r in box["value"]] == [[100], [101]]
    assert ch0.step == ch1.step == 2


def test_objects_of_a_failed_step_are_purged(redis_url: str, tmp_path: Path) -> None:
    job = f"layout-{uuid.uuid4().hex[:8]}"
    base = tmp_path / "shuffle"
    (base).mkdir()
    (base / "someone-elses.parquet").write_bytes(b"keep me")
    ctx = _ctx(redis_url, job, 0, 2, storage_path=base.as_uri(), timeout_s=0.5, poll_s=0.1)
    channel = S3Channel(ctx)
    with pytest.raises(ChannelTimeoutError, match="ranks \\[1\\]"):
        channel.all_to_all([pa.table({"v": [0]}), pa.table({"v": [1]})])
    assert [p.name for p in base.iterdir() if p.name.startswith("cylon-")] == [f"cylon-{job}-s000000"]
    assert [p.name for p in (base / f"cylon-{job}-s000000").iterdir()] == ["r00000.arrows"]
    assert purge_objects(ctx) == 1  # the step's folder
    assert [p.name for p in base.iterdir()] == ["someone-elses.parquet"]
