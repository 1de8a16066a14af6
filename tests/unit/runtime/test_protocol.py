"""runtime/protocol.py: the key names, the abort record and the abort script on a real Valkey."""
from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
import redis
import redis.asyncio

from airflow_provider_cylon.runtime.protocol import (
    ABORT_LUA,
    JobKeys,
    abort_args,
    abort_record,
    job_key,
    parse_abort_record,
)

CONTRACTS = Path(__file__).resolve().parents[3] / "docs" / "contracts.md"


def test_every_key_kind_is_documented_in_contracts() -> None:
    keys = JobKeys("j1")
    # built with the placeholders the contract's table spells
    names = [keys.spec, keys.handle, keys.fence, keys.rank, keys.claim("{invocation_id}"), keys.gather("endpoints"), keys.gather("{name}"),
             keys.barrier("{name}"), keys.status, keys.done, keys.abort, keys.manifest, keys.heartbeats,
             keys.wake_abort("{rank}"), keys.wake_final, keys.channel_prefix + "..."]  # type: ignore[arg-type]
    table = CONTRACTS.read_text()
    for name in names:
        assert name.startswith("cylon:j1:")
        assert f"`{name.removeprefix('cylon:j1:')}`" in table, name


def test_job_key_and_prefix() -> None:
    assert job_key("abc", "manifest") == "cylon:abc:manifest" == JobKeys("abc").manifest
    assert JobKeys("abc").abort_wakes(2) == ["cylon:abc:wake:abort:0", "cylon:abc:wake:abort:1",
                                             "cylon:abc:wake:final"]


def test_abort_record_round_trip_and_legacy_text() -> None:
    record = parse_abort_record(abort_record("boom", rank=3, now=12.5))
    assert record == {"rank": 3, "error": "boom", "time": 12.5}
    assert parse_abort_record(b"plain text") == {"rank": None, "error": "plain text"}
    assert parse_abort_record("[1, 2]") == {"rank": None, "error": "[1, 2]"}
    assert parse_abort_record(None) is None


def test_abort_script_first_wins_and_wakes_everyone(redis_url: str) -> None:
    job = f"p-{uuid.uuid4().hex[:10]}"
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    script = client.register_script(ABORT_LUA)
    keys, args = abort_args(job, "first", rank=1, world_size=3, ttl_s=120)
    assert script(keys=keys, args=args) == 1
    keys2, args2 = abort_args(job, "second", rank=2, world_size=3, ttl_s=120)
    assert script(keys=keys2, args=args2) == 0
    assert json.loads(client.get(job_key(job, "abort")))["error"] == "first"
    for key in JobKeys(job).abort_wakes(3):
        assert client.llen(key) == 2  # both calls wake: a late waiter must not sleep
        assert 0 < client.ttl(key) <= 120
    assert 0 < client.ttl(job_key(job, "abort")) <= 120
    client.delete(*keys)
    client.close()


@pytest.mark.asyncio
async def test_abort_script_with_the_asyncio_client(redis_url: str) -> None:
    job = f"p-{uuid.uuid4().hex[:10]}"
    client = redis.asyncio.Redis.from_url(redis_url, decode_responses=True)
    try:
        keys, args = abort_args(job, "async abort", rank=None, world_size=1)
        assert await client.register_script(ABORT_LUA)(keys=keys, args=args) == 1
        assert parse_abort_record(await client.get(JobKeys(job).abort))["rank"] is None
        await client.delete(*keys)
    finally:
        await client.aclose()
