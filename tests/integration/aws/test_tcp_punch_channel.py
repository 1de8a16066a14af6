"""The tcp-punch channel: all_to_all and a distributed join over punched links, and its Redis fallback.

Ranks run as threads of this process, each with its own Redis client (real
Valkey) and its own punched sockets through a real rendezvous server.
"""
from __future__ import annotations

import logging
import socket
import uuid
import zlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pytest
import redis

from airflow_provider_cylon.runtime.channels.base import ChannelContext
from airflow_provider_cylon.runtime.channels.tcp_punch import TcpPunchChannel

pytestmark = [pytest.mark.integration("redis"), pytest.mark.timeout(120)]


def _run_ranks(world: int, redis_url: str, body: Callable[[TcpPunchChannel], Any], **channel_kw: Any) -> list[Any]:
    """Run ``body`` on ``world`` ranks, each with a connected TcpPunchChannel; return results by rank."""
    job = f"punch-{uuid.uuid4().hex[:8]}"

    def rank_main(rank: int) -> Any:
        kw = {"punch_timeout_s": 10.0, "bind_host": "127.0.0.1", **channel_kw}
        per_rank = kw.pop("per_rank", None)
        if per_rank:
            kw.update(per_rank(rank))
        ctx = ChannelContext(job_id=job, rank=rank, world_size=world,
                             redis=redis.Redis.from_url(redis_url), timeout_s=30, poll_s=0.2)
        with TcpPunchChannel(ctx, **kw) as ch:
            ch.bind()
            ch.connect()
            return body(ch)

    with ThreadPoolExecutor(world) as pool:
        return list(pool.map(rank_main, range(world)))


def _addr(srv: Any) -> str:
    return f"127.0.0.1:{srv.server.port}"


def _labelled_parts(rank: int, world: int, step: int) -> list[pa.Table]:
    return [pa.table({"src": [rank] * (dst + 1), "dst": [dst] * (dst + 1), "step": [step] * (dst + 1)})
            for dst in range(world)]


@pytest.mark.parametrize("world", [2, 3, 4])
def test_all_to_all_over_punched_links(rendezvous_server, redis_url: str, world: int) -> None:
    def body(ch: TcpPunchChannel) -> tuple[str | None, list[list[pa.Table]]]:
        rank = ch.ctx.rank
        return ch.transport, [ch.all_to_all(_labelled_parts(rank, world, s)) for s in range(2)]

    results = _run_ranks(world, redis_url, body, rendezvous_addr=_addr(rendezvous_server))
    for rank, (transport, steps) in enumerate(results):
        assert transport == "tcp-punch"
        for step, received in enumerate(steps):
            for src, table in enumerate(received):
                assert table.num_rows == rank + 1
                assert set(table["src"].to_pylist()) == {src} and set(table["dst"].to_pylist()) == {rank}
                assert set(table["step"].to_pylist()) == {step}
    assert rendezvous_server.server.stats.paired == world * (world - 1) // 2


def _partition(table: pa.Table, key: str, world: int) -> list[pa.Table]:
    """Hash-partition with the kernel when it is built, else by key modulo world (int keys)."""
    try:
        from airflow_provider_cylon.kernel import hash_partition  # type: ignore[attr-defined]
    except ImportError:
        bucket = pc.remainder(table[key], world) if hasattr(pc, "remainder") else pc.subtract(
            table[key], pc.multiply(pc.divide(table[key], world), world))
        return [table.filter(pc.equal(bucket, p)) for p in range(world)]
    return list(hash_partition(table, [key], world))


def test_distributed_join_over_punched_links_matches_duckdb(rendezvous_server, redis_url: str) -> None:
    duckdb = pytest.importorskip("duckdb")
    world, n = 4, 4000
    lt = pa.table({"k": pa.array([i % 1500 for i in range(n)], pa.int64()), "a": pa.array(range(n), pa.int64())})
    rt = pa.table({"k": pa.array([(i * 7) % 2000 for i in range(n // 2)], pa.int64()),
                      "b": pa.array([f"r{i}" for i in range(n // 2)])})

    def body(ch: TcpPunchChannel) -> pa.Table:
        rank = ch.ctx.rank
        # Each rank starts with its slice of both inputs, as after a read.
        mine_l = lt.slice(rank * n // world, n // world)
        mine_r = rt.slice(rank * (n // 2) // world, (n // 2) // world)
        got_l = ch.all_to_all(_partition(mine_l, "k", world))
        got_r = ch.all_to_all(_partition(mine_r, "k", world))
        return pa.concat_tables(got_l).join(pa.concat_tables(got_r), keys="k", join_type="inner")

    parts = _run_ranks(world, redis_url, body, rendezvous_addr=_addr(rendezvous_server))
    result = pa.concat_tables(parts).select(["k", "a", "b"]).sort_by([("a", "ascending"), ("b", "ascending")])
    expected = duckdb.sql("select k, l.a, r.b from lt l join rt r using (k) order by a, b").arrow()
    if isinstance(expected, pa.RecordBatchReader):
        expected = expected.read_all()
    assert result.num_rows == expected.num_rows > 0
    assert result.to_pylist() == expected.to_pylist()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_every_rank_falls_back_to_redis_when_one_rank_cannot_punch(
    rendezvous_server, redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Rank 2 cannot reach the server: the ranks agree on redis (a mix would deadlock) and say so."""
    world = 3
    bad = f"127.0.0.1:{_closed_port()}"

    def per_rank(rank: int) -> dict[str, Any]:
        return {"rendezvous_addr": bad if rank == 2 else _addr(rendezvous_server), "attempts": 1}

    def body(ch: TcpPunchChannel) -> tuple[str | None, str | None, list[pa.Table]]:
        return ch.transport, ch.fallback_reason, ch.all_to_all(_labelled_parts(ch.ctx.rank, world, 0))

    with caplog.at_level(logging.INFO, logger="airflow_provider_cylon.runtime.channels.tcp_punch"):
        results = _run_ranks(world, redis_url, body, per_rank=per_rank, punch_timeout_s=3)
    for rank, (transport, reason, received) in enumerate(results):
        assert transport == "redis"
        assert reason is not None and "rank 2 could not link" in reason and "cannot reach rendezvous" in reason
        assert [t["src"].to_pylist()[0] for t in received] == [0, 1, 2]
        assert all(t.num_rows == rank + 1 for t in received)
    fallbacks = [r for r in caplog.records if "falling back to the redis channel" in r.getMessage()]
    assert len(fallbacks) == world


def test_no_rendezvous_configured_uses_redis_at_once(redis_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CYLON_RENDEZVOUS", raising=False)

    def body(ch: TcpPunchChannel) -> tuple[str | None, str | None, int]:
        return ch.transport, ch.fallback_reason, sum(t.num_rows for t in ch.all_to_all(_labelled_parts(ch.ctx.rank, 2, 0)))

    results = _run_ranks(2, redis_url, body)
    assert [r[0] for r in results] == ["redis", "redis"]
    assert "CYLON_RENDEZVOUS" in (results[0][1] or "")
    assert [r[2] for r in results] == [2, 4]


def test_wrong_token_falls_back_and_names_the_refusal(rendezvous_factory, redis_url: str) -> None:
    srv = rendezvous_factory(token="right")

    def body(ch: TcpPunchChannel) -> tuple[str | None, str | None]:
        return ch.transport, ch.fallback_reason

    results = _run_ranks(2, redis_url, body, rendezvous_addr=_addr(srv), token="wrong", attempts=1)
    assert all(t == "redis" and "unauthorized" in (r or "") for t, r in results)
    results = _run_ranks(2, redis_url, body, rendezvous_addr=_addr(srv), token="right")
    assert all(t == "tcp-punch" for t, _ in results)


def test_pairs_are_sharded_over_several_rendezvous_servers(rendezvous_factory, redis_url: str) -> None:
    """CYLON_RENDEZVOUS may list servers: both peers of a pair pick the same one, by hash."""
    servers = [rendezvous_factory(pair_ttl_s=10.0) for _ in range(3)]
    world = 4

    def body(ch: TcpPunchChannel) -> tuple[str | None, str]:
        ch.all_to_all(_labelled_parts(ch.ctx.rank, world, 0))
        return ch.transport, ch.ctx.job_id

    listed = ",".join(_addr(s) for s in servers)
    results = _run_ranks(world, redis_url, body, rendezvous_addr=listed)
    assert [t for t, _ in results] == ["tcp-punch"] * world
    job = results[0][1]
    expected = [0, 0, 0]
    for lo in range(world):
        for hi in range(lo + 1, world):
            expected[zlib.crc32(f"cylon/{job}/{lo}-{hi}".encode()) % 3] += 1
    assert [s.server.stats.paired for s in servers] == expected


def test_links_are_retried_until_a_late_rendezvous_server_answers(rendezvous_factory, redis_url: str) -> None:
    """The server comes up 0.6 s after the ranks start punching: backoff retries still link every pair."""
    import threading

    port = _closed_port()
    timer = threading.Timer(0.6, lambda: rendezvous_factory(port=port, pair_ttl_s=10.0))
    timer.start()
    try:
        def body(ch: TcpPunchChannel) -> str | None:
            ch.all_to_all(_labelled_parts(ch.ctx.rank, 3, 0))
            return ch.transport

        assert _run_ranks(3, redis_url, body, rendezvous_addr=f"127.0.0.1:{port}", attempts=10) == ["tcp-punch"] * 3
    finally:
        timer.join()
