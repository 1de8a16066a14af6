"""One rank of a channel test, run as its own process (``python channel_worker.py CONFIG_JSON``).

Not a test module: the tests in this folder start ``world_size`` of these. The
rank exchanges deterministic partitions (``make_part``), so it can check what
it received by itself; it reports a JSON result file. Nothing is pickled: the
config travels as JSON in argv, the partitions as Arrow IPC inside the channel.
"""
from __future__ import annotations

import json
import os
import sys
import time
import traceback
from typing import Any

import numpy as np
import pyarrow as pa
import redis

#: Steps of the "exchange" scenario.
STEPS = 3


def make_part(step: int, src: int, dst: int) -> pa.Table:
    """The partition ``src`` sends to ``dst`` at ``step``: same on every process.

    step 0: nulls, strings, a 150 KB string value (beyond the tests' chunk size);
    step 1: empty for even ``src + dst``, else ~100k rows with lists and timestamps;
    step 2: another schema altogether (steps are independent exchanges).
    """
    if step == 0:
        n = 50 + 7 * src + 3 * dst
        ints = [None if i % 5 == 0 else i * 1000 + src * 10 + dst for i in range(n)]
        strs = [None if i % 7 == 3 else f"s{src}->{dst}#{i}" for i in range(n)]
        big = ["x" * 150_000 + f"{src}{dst}" if i == 0 else f"v{i}" for i in range(n)]
        return pa.table(
            {
                "i": pa.array(ints, pa.int64()),
                "s": pa.array(strs, pa.string()),
                "f": pa.array([i / 3.0 for i in range(n)], pa.float64()),
                "big": pa.array(big, pa.large_string()),
            }
        )
    if step == 1:
        n = 0 if (src + dst) % 2 == 0 else 100_000 + src * 1000 + dst
        base = np.arange(n, dtype=np.int64) * (src + 1) + dst
        return pa.table(
            {
                "k": pa.array(base),
                "ts": pa.array(base * 1_000_000, pa.timestamp("us")),
                "l": pa.array([[int(v), None] if v % 3 == 0 else [] for v in base[:n]], pa.list_(pa.int64())),
            }
        )
    n = 10 + src + dst
    return pa.table({"flag": pa.array([(i + src + dst) % 2 == 0 for i in range(n)])})


def _filesystem(storage: dict[str, Any]) -> tuple[Any, str | None]:
    if "s3" in storage:
        from pyarrow import fs as pafs

        s3 = storage["s3"]
        fs = pafs.S3FileSystem(
            endpoint_override=s3["endpoint_override"],
            scheme="http",
            access_key=s3["access_key"],
            secret_key=s3["secret_key"],
            region=s3["region"],
        )
        return fs, s3["path"]
    return None, storage.get("uri")


def _all_gather_endpoints(client: redis.Redis, job_id: str, rank: int, world: int, value: str | None) -> dict[int, str]:
    """Minimal stand-in for the runtime core's all_gather (HSET, then wait for all)."""
    key = f"cylon:{job_id}:endpoints"
    client.hset(key, str(rank), json.dumps(value))
    client.expire(key, 300)
    deadline = time.monotonic() + 60
    while client.hlen(key) < world:
        if time.monotonic() > deadline:
            raise TimeoutError(f"all_gather of endpoints: {client.hlen(key)} of {world} ranks after 60s")
        time.sleep(0.02)
    return {int(k): json.loads(v) for k, v in client.hgetall(key).items()}


def _tables_differ(got: pa.Table | None, want: pa.Table) -> str | None:
    if got is None:
        return "missing"
    if not got.schema.equals(want.schema):
        return f"schema {got.schema} != {want.schema}"
    if not got.equals(want):
        return f"content differs ({got.num_rows} rows vs {want.num_rows})"
    return None


def main(config: dict[str, Any]) -> dict[str, Any]:
    from airflow_provider_cylon.runtime.channels import ChannelContext, ChannelError, make_channel

    rank, world, job_id = int(config["rank"]), int(config["world_size"]), config["job_id"]
    client = redis.Redis.from_url(config["redis_url"])
    filesystem, storage_path = _filesystem(config.get("storage", {}))
    ctx = ChannelContext(
        job_id=job_id,
        rank=rank,
        world_size=world,
        redis=client,
        filesystem=filesystem,
        storage_path=storage_path,
        compression=config.get("compression"),
        chunk_bytes=int(config.get("chunk_bytes", 64 * 1024)),
        timeout_s=float(config.get("timeout_s", 60)),
        poll_s=float(config.get("poll_s", 0.2)),
        ttl_s=300,
    )
    result: dict[str, Any] = {"rank": rank, "ok": True, "checked": 0}
    channel = make_channel(config["transport"], ctx)
    try:
        endpoint = channel.bind("127.0.0.1")
        channel.connect(_all_gather_endpoints(client, job_id, rank, world, endpoint))
        with open(config["out"] + ".started", "w") as marker:
            marker.write(str(time.time()))
        scenario = config["scenario"]
        if scenario == "die":
            os._exit(0)  # a worker killed mid-job: sockets close, nothing is reported
        if scenario == "idle":  # alive and connected, but never exchanges (until abort or idle_s)
            end = time.monotonic() + float(config.get("idle_s", 5))
            while time.monotonic() < end and not client.exists(f"cylon:{job_id}:abort"):
                time.sleep(0.05)
            return result
        steps = STEPS if scenario == "exchange" else 1
        try:
            for step in range(steps):
                parts = [make_part(step, rank, dst) for dst in range(world)]
                received = channel.all_to_all(parts)
                for src in range(world):
                    problem = _tables_differ(received[src], make_part(step, src, rank))
                    if problem:
                        result["ok"] = False
                        result.setdefault("mismatches", []).append(f"step {step} from {src}: {problem}")
                    result["checked"] += 1
        except ChannelError as err:
            result.update(
                ok=False,
                raised_at=time.time(),
                error_type=type(err).__name__,
                error=str(err),
                peer=list(err.peer) if isinstance(err.peer, tuple) else err.peer,
                step=err.step,
                failed_rank=getattr(err, "failed_rank", None),
            )
        result["bytes_sent"] = channel.bytes_sent
        result["bytes_received"] = channel.bytes_received
        return result
    finally:
        channel.close()


if __name__ == "__main__":
    cfg = json.loads(sys.argv[1])
    try:
        res = main(cfg)
    except BaseException as exc:  # reported to the test, which fails with the traceback
        res = {"rank": cfg.get("rank"), "ok": False, "error_type": type(exc).__name__, "error": str(exc),
               "traceback": traceback.format_exc()}
    with open(cfg["out"] + ".tmp", "w") as fh:
        json.dump(res, fh)
    os.replace(cfg["out"] + ".tmp", cfg["out"])
