"""64 local workers on every channel: a shuffle join compared with DuckDB, and no key left after cleanup.

The protocol's cost per rank is what grows with the world size (benchmarks/protocol.py
measures it); this test makes a change that only breaks at scale fail CI. The data
are tiny (each rank reads one or two row groups) so the time goes to 64 processes
starting, meeting and exchanging 3 x 64 x 63 partitions. tcp-punch pairs its 2,016
links through a rendezvous server started here.
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import redis
from rt_helpers import duck, make_table
from rt_multiset import assert_same_rows  # noqa: E402  (tests/unit/runtime: sys.path via conftest)

from airflow_provider_cylon.client.executors.local import LocalExecutor
from airflow_provider_cylon.client.job_client import JobClient
from airflow_provider_cylon.client.run import WAIT_SLACK_S, run_job
from airflow_provider_cylon.runtime import storage
from airflow_provider_cylon.runtime.spec import JobSpec

pytestmark = [pytest.mark.integration("redis"), pytest.mark.timeout(900)]

WORLD = 64
JOIN_SQL = "SELECT COALESCE(l.k, r.k) AS k, l.s AS s_x, l.x, r.s AS s_y, r.y FROM l JOIN r ON l.k = r.k"


@pytest.fixture(scope="module")
def w64_data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """``left``: 64 row groups of 10 rows; ``right``: 64 of 5 (every rank reads some, keys clash, nulls)."""
    root = tmp_path_factory.mktemp("w64")
    pq.write_table(make_table(640, 11, 150, "x"), root / "left.parquet", row_group_size=10)
    pq.write_table(make_table(320, 12, 150, "y"), root / "right.parquet", row_group_size=5)
    return {"left": str(root / "left.parquet"), "right": str(root / "right.parquet")}


@pytest.fixture(scope="module")
def rendezvous_addr() -> Iterator[str]:
    """``cylon-airflow rendezvous`` on a free loopback port, for the tcp-punch job."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "airflow_provider_cylon.cli", "rendezvous", "--host", "127.0.0.1",
                             "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        end = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < end, "rendezvous server did not start"
                time.sleep(0.1)
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.mark.parametrize("channel", ["redis", "tcp", "s3", "tcp-punch"])
def test_join_on_64_workers_matches_duckdb_and_leaves_no_key(channel: str, w64_data: dict[str, str],
                                                              tmp_path: Path, redis_url: str,
                                                              rendezvous_addr: str,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    # 64 processes on a small machine: past the local executor's default bound, on purpose.
    monkeypatch.setenv("CYLON_LOCAL_MAX_WORKERS", str(WORLD))
    out = str(tmp_path / "out")
    spec = JobSpec.for_op("join", [w64_data["left"], w64_data["right"]], out, on="k", broadcast_threshold_bytes=0,
                          channel=channel, world_size=WORLD, timeout_s=600.0)
    job_id = f"w64-{channel}-{os.getpid()}"
    env = {"CYLON_RENDEZVOUS": rendezvous_addr, "CYLON_PUNCH_TIMEOUT_S": "120"} if channel == "tcp-punch" else {}
    executor = LocalExecutor(function_timeout_s=spec.timeout_s + WAIT_SLACK_S / 2, env=env)
    try:
        manifest = run_job(spec, redis_url=redis_url, job_id=job_id, executor=executor, cleanup=False)
    finally:
        executor.close()
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    left = set(client.scan_iter(match=f"cylon:{job_id}:*", count=1000))
    assert not [k for k in left if ":d:" in k], "the redis channel left partition values behind"
    if channel == "tcp-punch":  # every link punched: the direct path, not the fallback to redis
        assert f"cylon:{job_id}:ch:punch" in left and f"cylon:{job_id}:ch:punch:failed" not in left
    assert JobClient(redis_url).cleanup(job_id) == len(left)
    assert list(client.scan_iter(match=f"cylon:{job_id}:*", count=1000)) == []

    assert_same_rows(storage.read_output(out), duck(JOIN_SQL, l=w64_data["left"], r=w64_data["right"]),
                     f"join w={WORLD} {channel}")
    assert manifest["world_size"] == WORLD and len(manifest["files"]) == WORLD
    statuses = manifest["workers"]
    assert sorted(s["rank"] for s in statuses) == list(range(WORLD))
    assert all(s["state"] == "ok" and s["shuffles"] == 3 for s in statuses)
    staging = Path(out) / storage.STAGING_DIR
    assert not staging.exists() or not any(staging.rglob("*")), "shuffle or staging files left behind"
