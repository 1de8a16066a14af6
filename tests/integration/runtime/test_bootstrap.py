"""Redis coordination on a real Valkey: ranks, all_gather, barriers, abort, cleanup."""
from __future__ import annotations

import threading
import time
import uuid

import pytest

from airflow_provider_cylon.client.snapshot import wait_for_final
from airflow_provider_cylon.runtime.bootstrap import JobCoordinator, connect
from airflow_provider_cylon.runtime.errors import JobAbortedError, WorkerTimeoutError
from airflow_provider_cylon.runtime.spec import JobSpec

pytestmark = pytest.mark.integration("redis")


def _coordinator(redis_url: str, job_id: str) -> JobCoordinator:
    return JobCoordinator(connect(redis_url), job_id, ttl_s=300, poll_s=0.5)


@pytest.fixture()
def job_id() -> str:
    return f"t-{uuid.uuid4().hex[:10]}"


def test_spec_storage_has_ttl(redis_url: str, job_id: str) -> None:
    c = _coordinator(redis_url, job_id)
    spec = JobSpec.for_op("unique", ["a.parquet"], "/tmp/o", world_size=3, key_ttl_s=120)
    c.put_spec(spec)
    assert c.get_spec() == spec
    assert 0 < c.client.ttl(c.keys.spec) <= 120
    assert c.cleanup() >= 1
    assert c.get_spec() is None


def test_rank_claimed_once_per_invocation(redis_url: str, job_id: str) -> None:
    c = _coordinator(redis_url, job_id)
    claims = [c.claim_rank(f"inv-{i}", 3) for i in range(3)]
    assert sorted(x.rank for x in claims) == [0, 1, 2]
    again = c.claim_rank("inv-1", 3)
    assert again.rank == claims[1].rank and not again.fresh
    surplus = c.claim_rank("inv-extra", 3)
    assert surplus.surplus and surplus.fresh
    for key in c.job_keys():
        assert c.client.ttl(key) > 0, key
    c.cleanup()


def test_concurrent_claims_of_one_invocation_share_a_rank(redis_url: str, job_id: str) -> None:
    out: list[int] = []

    def claim() -> None:
        out.append(_coordinator(redis_url, job_id).claim_rank("same", 4).rank)

    threads = [threading.Thread(target=claim) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert set(out) == {0}
    c = _coordinator(redis_url, job_id)
    assert int(c.client.get(c.keys.rank)) == 1
    c.cleanup()


def test_all_gather_and_barrier_block_without_spinning(redis_url: str, job_id: str) -> None:
    world = 4
    results: dict[int, list] = {}
    commands_before = int(connect(redis_url).info("stats")["total_commands_processed"])

    def worker(rank: int) -> None:
        c = _coordinator(redis_url, job_id)
        c.attach(rank, world, time.monotonic() + 30)
        time.sleep(0.3 * rank)  # stagger arrivals: early ranks must block, not poll
        results[rank] = c.all_gather("endpoints", {"host": "127.0.0.1", "port": 1000 + rank})
        c.barrier("after-gather")

    threads = [threading.Thread(target=worker, args=(r,)) for r in range(world)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    expected = [{"host": "127.0.0.1", "port": 1000 + r} for r in range(world)]
    assert all(results[r] == expected for r in range(world))
    commands = int(connect(redis_url).info("stats")["total_commands_processed"]) - commands_before
    assert commands < 200, f"{commands} Redis commands for a 4-rank gather+barrier: polling?"
    _coordinator(redis_url, job_id).cleanup()


def test_abort_wakes_every_waiter_within_a_second(redis_url: str, job_id: str) -> None:
    world = 3
    seen: dict[int, tuple[float, JobAbortedError]] = {}

    def waiter(rank: int) -> None:
        c = JobCoordinator(connect(redis_url), job_id, ttl_s=300, poll_s=30)  # long slices: the wake must do it
        c.attach(rank, world, time.monotonic() + 60)
        try:
            c.barrier("never")
        except JobAbortedError as err:
            seen[rank] = (time.monotonic(), err)

    threads = [threading.Thread(target=waiter, args=(r,)) for r in range(world - 1)]
    for t in threads:
        t.start()
    time.sleep(0.5)
    failing = _coordinator(redis_url, job_id)
    failing.attach(world - 1, world)
    start = time.monotonic()
    assert failing.abort("ValueError: bad column 'x'", rank=world - 1)
    assert not failing.abort("second abort loses", rank=0)
    for t in threads:
        t.join(10)
    assert set(seen) == {0, 1}
    for when, err in seen.values():
        assert when - start < 1.0
        assert err.failed_rank == world - 1 and "bad column" in err.error
    outcome = wait_for_final(failing, 1)
    assert outcome.state == "failed" and outcome.failed_rank == world - 1
    failing.cleanup()
    assert failing.job_keys() == []


def test_barrier_times_out_naming_it(redis_url: str, job_id: str) -> None:
    c = _coordinator(redis_url, job_id)
    c.attach(0, 2, time.monotonic() + 0.5)
    with pytest.raises(WorkerTimeoutError, match="barrier 'lonely'"):
        c.barrier("lonely")
    c.cleanup()


def test_status_manifest_and_wait_for_final(redis_url: str, job_id: str) -> None:
    c = _coordinator(redis_url, job_id)
    c.put_spec(JobSpec.for_op("unique", ["a.parquet"], "/tmp/o", world_size=2))  # a submitted job has a spec
    c.attach(0, 2)
    progress: list[int] = []

    def finish() -> None:
        time.sleep(0.3)
        c.report_status({"state": "ok", "rows_out": 5}, rank=0)
        c.report_status({"state": "ok", "rows_out": 7}, rank=1)
        c.publish_manifest({"job_id": job_id, "rows": 12})

    t = threading.Thread(target=finish)
    t.start()
    waiter = JobCoordinator(connect(redis_url), job_id, poll_s=5)
    start = time.monotonic()
    outcome = wait_for_final(waiter, 10, on_progress=lambda snap: progress.append(snap.done))
    t.join()
    assert time.monotonic() - start < 2
    assert outcome.state == "success" and outcome.manifest == {"job_id": job_id, "rows": 12}
    assert outcome.raise_for_failure()["rows"] == 12
    assert waiter.done_count() == 2
    c.cleanup()


def test_password_from_environment(valkey_server, job_id: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """AUTH: the password comes from the named environment variable, not the URL."""
    import redis

    admin = redis.Redis(host=valkey_server.host, port=valkey_server.port)
    user = f"u{uuid.uuid4().hex[:6]}"
    admin.execute_command("ACL", "SETUSER", user, "on", ">pw-123", "~*", "+@all")
    try:
        monkeypatch.setenv("MY_REDIS_PW", "pw-123")
        url = f"redis://{user}@{valkey_server.host}:{valkey_server.port}/0"
        client = connect(url, password_env="MY_REDIS_PW")
        assert client.ping()
        monkeypatch.setenv("MY_REDIS_PW", "wrong")
        with pytest.raises(redis.AuthenticationError):
            connect(url, password_env="MY_REDIS_PW").ping()
    finally:
        admin.execute_command("ACL", "DELUSER", user)


def test_every_key_has_a_ttl(redis_url: str, job_id: str) -> None:
    c = _coordinator(redis_url, job_id)
    c.put_spec(JobSpec.for_op("unique", ["a.parquet"], "/tmp/o", world_size=1, key_ttl_s=300))
    c.claim_rank("inv", 1)
    c.attach(0, 1, time.monotonic() + 10)
    c.all_gather("endpoints", {"endpoint": None})
    c.barrier("b")
    c.report_status({"state": "ok"})
    c.publish_manifest({"rows": 0})
    c.abort("late abort", rank=0)
    keys = c.job_keys()
    assert len(keys) >= 8
    for key in keys:
        assert 0 < c.client.ttl(key) <= 300, key
    c.cleanup()


def test_heartbeats_are_scored_by_server_time_and_removed_when_a_rank_ends(redis_url: str) -> None:
    from airflow_provider_cylon.runtime.heartbeat import DeadRankDetector, HeartbeatSender

    c = JobCoordinator(connect(redis_url), f"hb-{uuid.uuid4().hex[:8]}")
    c.put_spec(JobSpec.for_op("unique", ["a.parquet"], "/tmp/o", world_size=3))
    sender = HeartbeatSender(c.client, c.keys.heartbeats, c.keys.spec, 0, timeout_s=0.5, ttl_s=60)
    sender.start()
    try:
        time.sleep(0.3)
        seconds, micros = c.client.time()
        (rank, score), = c.client.zrange(c.keys.heartbeats, 0, -1, withscores=True)
        assert rank == b"0" and abs(seconds + micros / 1e6 - score) < 0.3  # beaten within the interval
        # rank 2 last beat 10 s ago: dead; rank 0 is fresh
        c.client.zadd(c.keys.heartbeats, {"2": seconds + micros / 1e6 - 10})
        detector = DeadRankDetector(c.client, c.keys.heartbeats, 0.5)
        found = detector.dead_rank()
        assert found is not None and found[0] == 2 and 9.5 < found[1] < 11
        assert detector.dead_rank() is None  # rate-limited: no second read within the interval
        c.attach(1, 3)
        c.watch_heartbeats(0.5)
        c.check_peers()
        assert c.get_abort()["rank"] == 2 and "stopped sending heartbeats" in c.get_abort()["error"]
    finally:
        sender.stop()
    assert c.client.zscore(c.keys.heartbeats, "0") is None  # an ended rank is not a dead one
    c.cleanup()
    sender.start()  # a late beat after cleanup re-creates nothing
    sender.stop()
    assert c.job_keys() == []
