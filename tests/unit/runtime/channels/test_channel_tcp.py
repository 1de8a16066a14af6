"""The tcp channel over loopback, ranks as threads of this process (no Redis needed)."""
from __future__ import annotations

import json
import socket
import struct
import threading
from collections.abc import Callable
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
import redis

from airflow_provider_cylon.runtime.channels import ChannelAbortedError, ChannelContext, ChannelError, TcpChannel
from airflow_provider_cylon.runtime.channels import tcp as tcp_module
from airflow_provider_cylon.runtime.channels.tcp import parse_endpoint

UNUSED = redis.Redis(host="127.0.0.1", port=9)


def _group(world: int, abort: Callable[[], Any] = lambda: None, **kw: Any) -> list[TcpChannel]:
    channels = [
        TcpChannel(
            ChannelContext(
                job_id="tcpjob", rank=r, world_size=world, redis=UNUSED, abort_check=abort, poll_s=0.1, **kw
            )
        )
        for r in range(world)
    ]
    endpoints = {r: ch.bind("127.0.0.1") for r, ch in enumerate(channels)}
    _run_all([lambda ch=ch: ch.connect(endpoints) for ch in channels])
    return channels


def _run_all(fns: list[Callable[[], Any]], timeout_s: float = 30) -> list[Any]:
    out: list[Any] = [None] * len(fns)

    def run(i: int) -> None:
        try:
            out[i] = fns[i]()
        except BaseException as err:  # returned to the test
            out[i] = err

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(len(fns))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout_s)
        assert not t.is_alive(), "rank thread hung"
    return out


@pytest.mark.parametrize(("endpoint", "expected"), [("127.0.0.1:80", ("127.0.0.1", 80)), ("[::1]:5", ("::1", 5))])
def test_parse_endpoint(endpoint: str, expected: tuple[str, int]) -> None:
    assert parse_endpoint(endpoint) == expected


@pytest.mark.parametrize("bad", ["nohost", "host:", ":80", "host:port"])
def test_parse_endpoint_rejects_malformed(bad: str) -> None:
    with pytest.raises(ValueError, match=repr(bad)):
        parse_endpoint(bad)


@pytest.mark.parametrize("compression", [None, "zstd"])
def test_three_ranks_exchange_two_steps(compression: str | None) -> None:
    world = 3
    channels = _group(world, compression=compression)
    try:
        for step in range(2):
            parts = [[pa.table({"v": [step * 100 + s * 10 + d] * d}) for d in range(world)] for s in range(world)]
            results = _run_all([lambda r=r: channels[r].all_to_all(parts[r]) for r in range(world)])
            for dst, got in enumerate(results):
                assert not isinstance(got, BaseException), got
                for src in range(world):
                    assert got[src].equals(parts[src][dst])
    finally:
        for ch in channels:
            ch.close()


def test_large_exchange_in_both_directions_does_not_deadlock() -> None:
    # 24 MB each way: far beyond socket buffers, so a send-then-receive design would hang.
    channels = _group(2)
    big = [pa.table({"v": np.arange(3_000_000, dtype=np.int64) + r}) for r in range(2)]
    try:
        results = _run_all([lambda r=r: channels[r].all_to_all([big[r], big[r]]) for r in range(2)])
        assert results[0][1].equals(big[1]) and results[1][0].equals(big[0])
        assert channels[0].bytes_sent == channels[1].bytes_received > 24_000_000
    finally:
        for ch in channels:
            ch.close()


def test_abort_ends_a_blocked_receive() -> None:
    flag: dict[str, Any] = {}
    channels = _group(2, abort=lambda: flag.get("abort"))
    try:
        timer = threading.Timer(0.3, lambda: flag.update(abort=json.dumps({"rank": 1, "error": "boom"})))
        timer.start()
        # Only rank 0 exchanges: it blocks on rank 1 until the abort.
        (result,) = _run_all([lambda: channels[0].all_to_all([pa.table({"v": [1]})] * 2)], timeout_s=10)
        assert isinstance(result, ChannelAbortedError) and result.failed_rank == 1 and result.peer == 1
    finally:
        for ch in channels:
            ch.close()


def test_exchange_before_connect_is_an_error() -> None:
    ch = TcpChannel(ChannelContext(job_id="j", rank=0, world_size=2, redis=UNUSED, abort_check=lambda: None))
    with pytest.raises(ChannelError, match="call bind\\(\\) and connect"):
        ch.all_to_all([pa.table({"v": [1]})] * 2)
    ch.close()


def test_connect_needs_every_endpoint() -> None:
    ch = TcpChannel(ChannelContext(job_id="j", rank=0, world_size=3, redis=UNUSED, abort_check=lambda: None))
    ch.bind()
    with pytest.raises(ChannelError, match=r"no endpoint for ranks \[2\]"):
        ch.connect({0: "127.0.0.1:1", 1: "127.0.0.1:2"})
    ch.close()


def test_a_silent_stranger_does_not_stall_the_set_up(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tcp_module, "HELLO_TIMEOUT_S", 0.3)
    channels = [
        TcpChannel(ChannelContext(job_id="j", rank=r, world_size=2, redis=UNUSED, abort_check=lambda: None, poll_s=0.1))
        for r in range(2)
    ]
    endpoints = {r: ch.bind() for r, ch in enumerate(channels)}
    stranger = socket.create_connection(parse_endpoint(endpoints[1]))  # connects, says nothing
    try:
        assert _run_all([lambda ch=ch: ch.connect(endpoints) for ch in channels], timeout_s=10) == [None, None]
    finally:
        stranger.close()
        for ch in channels:
            ch.close()


def test_a_connection_from_another_job_is_dropped() -> None:
    ctx = [
        ChannelContext(job_id="mine", rank=r, world_size=2, redis=UNUSED, abort_check=lambda: None, poll_s=0.1)
        for r in range(2)
    ]
    channels = [TcpChannel(c) for c in ctx]
    endpoints = {r: ch.bind() for r, ch in enumerate(channels)}
    # A stranger dials rank 1 first with a hello for another job.
    stranger = socket.create_connection(parse_endpoint(endpoints[1]))
    hello = json.dumps({"proto": "cylon-tcp/1", "job": "other", "src": 0}).encode()
    stranger.sendall(struct.pack("!I", len(hello)) + hello)
    try:
        results = _run_all([lambda ch=ch: ch.connect(endpoints) for ch in channels])
        assert results == [None, None]
        got = _run_all([lambda r=r: channels[r].all_to_all([pa.table({"v": [r]})] * 2) for r in range(2)])
        assert got[1][0].equals(pa.table({"v": [0]}))
    finally:
        stranger.close()
        for ch in channels:
            ch.close()


def test_attach_uses_links_made_elsewhere() -> None:
    # As with sockets from rendezvous.punch: any connected stream pair will do.
    a, b = socket.socketpair()
    channels = [
        TcpChannel(ChannelContext(job_id="j", rank=r, world_size=2, redis=UNUSED, abort_check=lambda: None))
        for r in range(2)
    ]
    channels[0].attach({1: a})
    channels[1].attach({0: b})
    try:
        got = _run_all([lambda r=r: channels[r].all_to_all([pa.table({"v": [r, 0]}), pa.table({"v": [r, 1]})]) for r in range(2)])
        assert got[0][1].equals(pa.table({"v": [1, 0]})) and got[1][0].equals(pa.table({"v": [0, 1]}))
        with pytest.raises(ChannelError, match=r"lacks sockets for ranks \[1\]"):
            TcpChannel(ChannelContext(job_id="j", rank=0, world_size=2, redis=UNUSED)).attach({})
    finally:
        for ch in channels:
            ch.close()
