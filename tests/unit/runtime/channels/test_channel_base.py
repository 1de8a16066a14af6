"""The channel contract without a server: context validation, errors, abort/deadline watch."""
from __future__ import annotations

import json
import time
from typing import Any

import pyarrow as pa
import pytest
import redis

from airflow_provider_cylon.runtime import errors
from airflow_provider_cylon.runtime.channels import (
    CHANNELS,
    ChannelAbortedError,
    ChannelContext,
    ChannelError,
    ChannelTimeoutError,
    make_channel,
)
from airflow_provider_cylon.runtime.channels.base import AbortWatch, abort_key, abort_wake_key

# A client that is never used: nothing here talks to a server (port 9 is discard).
UNUSED = redis.Redis(host="127.0.0.1", port=9)


def _ctx(**kw: Any) -> ChannelContext:
    base: dict[str, Any] = {"job_id": "j1", "rank": 0, "world_size": 1, "redis": UNUSED, "abort_check": lambda: None}
    base.update(kw)
    return ChannelContext(**base)


@pytest.mark.parametrize(
    ("kw", "field"),
    [
        ({"world_size": 0}, "world_size"),
        ({"rank": 2, "world_size": 2}, "rank"),
        ({"rank": -1}, "rank"),
        ({"compression": "snappy"}, "compression"),
        ({"job_id": ""}, "job_id"),
        ({"job_id": "a b"}, "job_id"),
        ({"ttl_s": 0}, "ttl_s"),
        ({"timeout_s": 0}, "timeout_s"),
        ({"chunk_bytes": 10}, "chunk_bytes"),
        ({"poll_s": 0}, "poll_s"),
        ({"redis": redis.Redis(port=9, decode_responses=True)}, "decode_responses"),
    ],
)
def test_context_rejects_bad_fields_by_name(kw: dict[str, Any], field: str) -> None:
    with pytest.raises(ValueError, match=field):
        _ctx(**kw)


def test_context_accepts_the_spec_spelling_of_no_compression() -> None:
    assert _ctx(compression="none").compression is None


def test_make_channel_knows_the_three_transports() -> None:
    assert {"redis", "s3", "tcp"} <= set(CHANNELS)
    with pytest.raises(ValueError, match="'udp'.*redis.*s3.*tcp"):
        make_channel("udp", _ctx())


@pytest.mark.parametrize("name", ["redis", "tcp"])
def test_single_rank_passes_its_partition_through(name: str) -> None:
    channel = make_channel(name, _ctx())
    part = pa.table({"x": [1, None]})
    endpoint = channel.bind()
    assert (endpoint is None) == (name == "redis")
    channel.connect({})
    assert channel.all_to_all([part])[0] is part
    assert (channel.step, channel.bytes_sent, channel.bytes_received) == (1, 0, 0)
    channel.close()


def test_all_to_all_checks_its_input() -> None:
    channel = make_channel("redis", _ctx(world_size=3))
    with pytest.raises(ChannelError, match="expected 3, got 2") as info:
        channel.all_to_all([pa.table({"x": [1]})] * 2)
    assert info.value.job_id == "j1" and info.value.rank == 0 and info.value.step == 0
    with pytest.raises(ChannelError, match="rank 1 must be a pyarrow.Table, got dict"):
        channel.all_to_all([pa.table({"x": [1]}), {"x": [1]}, pa.table({"x": [1]})])  # type: ignore[list-item]
    channel.close()
    with pytest.raises(ChannelError, match="closed channel"):
        channel.all_to_all([pa.table({"x": [1]})] * 3)


def test_errors_fit_the_runtime_hierarchy() -> None:
    aborted = ChannelAbortedError("x", job_id="j", rank=1, peer={3, 2}, step=4, failed_rank=2, error="boom")
    assert isinstance(aborted, errors.JobAbortedError) and isinstance(aborted, errors.ChannelError)
    assert isinstance(aborted, ChannelError)
    assert str(aborted).startswith("job_id=j rank=1 step=4 peer=2,3: ")
    assert aborted.peer == (2, 3) and aborted.failed_rank == 2 and aborted.error == "boom"
    timeout = ChannelTimeoutError("late", job_id="j", rank=0, peer=1, step=0)
    assert isinstance(timeout, errors.WorkerTimeoutError) and isinstance(timeout, ChannelError)
    assert timeout.peer == 1


def test_key_names_follow_the_contract() -> None:
    assert abort_key("j9") == "cylon:j9:abort"
    assert abort_wake_key("j9", 3) == "cylon:j9:wake:abort:3"
    assert _ctx(job_id="j9").key_prefix == "cylon:j9:ch:"


def test_watch_raises_aborted_with_the_abort_record() -> None:
    record = json.dumps({"rank": 2, "error": "MemoryError on rank 2"})
    watch = AbortWatch(_ctx(job_id="jx", abort_check=lambda: record.encode()), step=5)
    with pytest.raises(ChannelAbortedError, match="MemoryError on rank 2.*set by rank 2") as info:
        watch.check([1, 2], "waiting for partitions")
    assert info.value.failed_rank == 2 and info.value.step == 5 and info.value.peer == (1, 2)
    assert "job_id=jx rank=0 step=5 peer=1,2" in str(info.value)


def test_watch_accepts_a_decoded_abort_record() -> None:
    with pytest.raises(ChannelAbortedError, match="OOM") as info:
        AbortWatch(_ctx(abort_check=lambda: {"rank": 3, "error": "OOM"}), step=0).check(3)
    assert info.value.failed_rank == 3 and info.value.error == "OOM"


def test_watch_accepts_a_boolean_abort_check() -> None:
    with pytest.raises(ChannelAbortedError) as info:
        AbortWatch(_ctx(abort_check=lambda: True), step=0).check(1)
    assert info.value.failed_rank is None


def test_watch_raises_timeout_after_the_deadline() -> None:
    watch = AbortWatch(_ctx(timeout_s=0.05), step=1)
    watch.check(1)  # in time
    time.sleep(0.08)
    with pytest.raises(ChannelTimeoutError, match="timed out after 0.05s sending"):
        watch.check(1, "sending")


def test_watch_honours_the_worker_deadline() -> None:
    watch = AbortWatch(_ctx(timeout_s=100, deadline=time.monotonic() + 0.05), step=2)
    assert watch.remaining() <= 0.05
    time.sleep(0.08)
    with pytest.raises(ChannelTimeoutError, match="timed out after the worker deadline"):
        watch.check(1)


def test_watch_asks_for_the_abort_key_at_most_every_half_poll() -> None:
    calls: list[float] = []
    watch = AbortWatch(_ctx(poll_s=10, abort_check=lambda: calls.append(1)), step=0)
    for _ in range(100):
        watch.check(1)
    assert len(calls) == 1
    watch.check(1, fresh=True)
    assert len(calls) == 2


def test_watch_wait_never_exceeds_poll_or_deadline() -> None:
    watch = AbortWatch(_ctx(poll_s=0.5, timeout_s=0.2), step=0)
    assert 0.01 <= watch.wait_s() <= 0.2
    assert AbortWatch(_ctx(poll_s=0.5, timeout_s=100), step=0).wait_s() == 0.5
