"""Protocol cost per job as the world size grows: Redis commands, keys, bytes, objects, waits.

For each channel and each world size W, the benchmark runs two small jobs on W
local worker processes (the real local executor, a throw-away Valkey):

* ``control``: a projection, which exchanges nothing: bootstrap, barriers,
  status, commit and cleanup only (the job's control traffic);
* ``join``: a shuffle join of two 2,000-row tables (three all_to_all steps: the
  broadcast decision and one shuffle per side), control plus data plane.

Per job it reports:

* Redis commands by type (``INFO commandstats`` before and after; commands run
  inside Lua scripts count under their own names, the script under ``evalsha``);
* keys created (keyspace notifications of class ``n``), by kind (digits folded);
* bytes through Redis (``total_net_input_bytes`` + ``total_net_output_bytes``,
  less the notifications sent to this benchmark's own subscriber);
* S3 requests by method and prefix, and objects written (the shuffle bucket is
  versioned, so a deleted object still counts), for the ``s3`` channel, which
  writes to moto's S3 server in a child process;
* the coordination waits every rank records (``status["coordination"]``): for
  each all_gather and barrier, the spread of the arrivals and the release
  latency (last rank released minus last rank arrived);
* keys left under ``cylon:{job}:`` after the job's cleanup (must be 0).

Growth: for each figure, the exponent between the two largest world sizes
(``log(v2 / v1) / log(W2 / W1)``): 1 is linear, 2 quadratic.

    python benchmarks/protocol.py --worlds 4,16,64 --channels redis,tcp,s3 --out benchmarks/out

The machine this runs on is usually shared: the times are noisy; the counts are exact.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import re
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from child_server import ChildServer  # noqa: E402  (a sibling file: benchmarks are scripts)

_COUNTS_PATH = "/_cylon_counts"


# ---- S3: moto's server behind a request counter, in a child process ---------------------------

def serve_s3(port: int, lifetime_s: float) -> None:
    """moto's S3 API with a WSGI middleware counting requests by method, kind and prefix."""
    import logging

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
    from werkzeug.serving import make_server

    lock = threading.Lock()
    counts: Counter[str] = Counter()
    app = DomainDispatcherApplication(create_backend_app)

    def middleware(environ: dict[str, Any], start_response: Any) -> Any:
        path = environ.get("PATH_INFO", "")
        if path == _COUNTS_PATH:
            with lock:
                body = json.dumps(dict(counts)).encode()
                if "reset" in environ.get("QUERY_STRING", ""):
                    counts.clear()
            start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
            return [body]
        method = environ.get("REQUEST_METHOD", "?")
        kind = method + (" range" if environ.get("HTTP_RANGE") else "")
        # Prefix = bucket and first key segment: S3's request-rate limits apply per prefix.
        prefix = "/".join(path.strip("/").split("/")[:2])
        with lock:
            counts[kind] += 1
            counts[f"{kind} {prefix}"] += 1
        return app(environ, start_response)

    server = make_server("127.0.0.1", port, middleware, threaded=True, request_handler=MotoRequestHandler)
    threading.Timer(lifetime_s, server.shutdown).start()
    print(f"listening {server.server_address[1]}", flush=True)
    server.serve_forever()


class S3Server(ChildServer):
    """The counting moto server in a child process (``with S3Server() as s3: s3.endpoint``)."""

    def __init__(self, lifetime_s: float = 3600.0) -> None:
        super().__init__([sys.executable, os.path.abspath(__file__), "--serve-s3", "--lifetime", str(lifetime_s)],
                         "moto S3 server")

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.port}"

    def counts(self, reset: bool = False) -> dict[str, int]:
        url = f"http://{self.endpoint}{_COUNTS_PATH}" + ("?reset=1" if reset else "")
        with urllib.request.urlopen(url, timeout=30) as resp:
            return dict(json.loads(resp.read()))

    def client(self) -> Any:
        import boto3

        return boto3.client("s3", endpoint_url=f"http://{self.endpoint}", aws_access_key_id="testing",
                            aws_secret_access_key="testing", region_name="us-east-1")


# ---- Redis: keys created, through keyspace notifications ---------------------------------------

class KeyWatcher:
    """Collects the name of every key created (``notify-keyspace-events En``) on a subscriber thread."""

    PATTERN = "__keyevent@*__:new"

    def __init__(self, client: Any) -> None:
        client.config_set("notify-keyspace-events", "En")
        self.lock = threading.Lock()
        self.created: list[str] = []
        self.notification_bytes = 0
        self.pubsub = client.pubsub(ignore_subscribe_messages=True)
        self.pubsub.psubscribe(**{self.PATTERN: self._on_message})
        self.thread = self.pubsub.run_in_thread(sleep_time=0.01, daemon=True)

    def _on_message(self, message: dict[str, Any]) -> None:
        key = message["data"].decode() if isinstance(message["data"], bytes) else str(message["data"])
        channel = message["channel"].decode() if isinstance(message["channel"], bytes) else str(message["channel"])
        # The RESP2 pmessage frame the server wrote: counted in its output bytes, not the job's.
        parts = ["pmessage", self.PATTERN, channel, key]
        size = len("*4\r\n") + sum(len(f"${len(p.encode())}\r\n") + len(p.encode()) + 2 for p in parts)
        with self.lock:
            self.created.append(key)
            self.notification_bytes += size

    def take(self) -> tuple[list[str], int]:
        """Keys created since the last call, and the notification bytes they cost."""
        with self.lock:
            keys, nbytes = self.created, self.notification_bytes
            self.created, self.notification_bytes = [], 0
        return keys, nbytes

    def stop(self) -> None:
        self.thread.stop()
        self.thread.join(5)
        self.pubsub.close()


def key_kind(job_id: str, key: str) -> str:
    """A key's kind: the job prefix dropped and every number folded to ``N``."""
    prefix = f"cylon:{job_id}:"
    name = key[len(prefix):] if key.startswith(prefix) else "(other) " + re.sub(r"[0-9a-f]{20}", "H", key)
    name = re.sub(r"(?<=claim:)[^:]+", "INV", name)
    return re.sub(r"\d+", "N", name)


def command_calls(info: dict[str, Any]) -> dict[str, int]:
    """``{command: calls}`` from ``INFO commandstats``."""
    return {k.removeprefix("cmdstat_"): int(v["calls"]) for k, v in info.items() if k.startswith("cmdstat_")}


# ---- one job -------------------------------------------------------------------------------------

def make_inputs(root: Path, rows: int) -> dict[str, str]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    left, right = root / "left.parquet", root / "right.parquet"
    pq.write_table(pa.table({"k": list(range(rows)), "a": list(range(rows))}), left, row_group_size=max(1, rows // 8))
    pq.write_table(pa.table({"k": list(range(0, 2 * rows, 2)), "b": list(range(rows))}), right,
                   row_group_size=max(1, rows // 8))
    return {"left": str(left), "right": str(right)}


def waits(statuses: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Per all_gather / barrier: arrival spread and release latency (seconds), across ranks."""
    by_name: dict[str, list[dict[str, float]]] = {}
    for status in statuses:
        for entry in status.get("coordination") or []:
            by_name.setdefault(str(entry["what"]), []).append(entry)
    out = {}
    for name, entries in by_name.items():
        arrivals = [e["arrive"] for e in entries]
        releases = [e["release"] for e in entries]
        out[name] = {"ranks": len(entries), "arrival_spread_s": round(max(arrivals) - min(arrivals), 4),
                     "release_latency_s": round(max(releases) - max(arrivals), 4),
                     "median_wait_s": round(statistics.median(r - a for a, r in zip(arrivals, releases)), 4)}
    return out


def run_one(op: str, channel: str, world: int, inputs: dict[str, str], work: Path, redis_url: str,
            redis_client: Any, watcher: KeyWatcher, s3: S3Server | None, env: dict[str, str],
            s3_max_world: int = 1 << 30) -> dict[str, Any]:
    from airflow_provider_cylon.client.executors.local import LocalExecutor
    from airflow_provider_cylon.client.run import run_job
    from airflow_provider_cylon.runtime.spec import JobSpec

    job_id = f"proto-{op}-{channel}-w{world}-{uuid.uuid4().hex[:6]}"
    dest = str(work / job_id)
    common: dict[str, Any] = {"channel": channel, "timeout_s": 600.0, "world_size": world}
    on_moto = s3 is not None and channel == "s3" and world <= s3_max_world
    if on_moto:
        assert s3 is not None
        common["storage"] = {"endpoint_override": s3.endpoint, "scheme": "http", "region": "us-east-1"}
    if op == "join":
        spec = JobSpec.for_op("join", [inputs["left"], inputs["right"]], dest, on="k", broadcast_threshold_bytes=0,
                              **common)
    else:
        spec = JobSpec.for_op("project", [inputs["left"]], dest, columns=["k", "a"], **common)
    if on_moto:
        assert s3 is not None
        spec = spec.with_(shuffle_prefix=f"s3://shuffle/{job_id}")
        s3.counts(reset=True)
    watcher.take()
    before_cmd = command_calls(redis_client.info("commandstats"))
    before = redis_client.info("stats")
    started = time.perf_counter()
    executor = LocalExecutor(function_timeout_s=900.0, env=env)
    try:
        manifest = run_job(spec, redis_url=redis_url, job_id=job_id, executor=executor)
    finally:
        executor.close()
    wall = time.perf_counter() - started
    after = redis_client.info("stats")
    after_cmd = command_calls(redis_client.info("commandstats"))
    time.sleep(0.2)  # the subscriber thread drains the last notifications
    created, note_bytes = watcher.take()
    leftover = list(redis_client.scan_iter(match=f"cylon:{job_id}:*", count=1000))
    commands = {k: after_cmd.get(k, 0) - before_cmd.get(k, 0) for k in after_cmd}
    # This benchmark's own two INFO calls per snapshot are not the job's.
    commands["info"] = commands.get("info", 0) - 2
    commands = {k: v for k, v in sorted(commands.items(), key=lambda kv: -kv[1]) if v > 0}
    net = (after["total_net_input_bytes"] - before["total_net_input_bytes"]
           + after["total_net_output_bytes"] - before["total_net_output_bytes"] - note_bytes)
    statuses = manifest["workers"]
    phases = [s.get("phases", {}) for s in statuses]
    result: dict[str, Any] = {
        "op": op, "channel": channel, "world": world, "rows": manifest["rows"], "wall_s": round(wall, 2),
        "commands_total": sum(commands.values()), "commands": commands,
        "keys_created": len(created), "keys_distinct": len(set(created)),
        "keys_by_kind": dict(Counter(key_kind(job_id, k) for k in created).most_common()),
        "keys_left": len(leftover), "redis_bytes": net,
        "bootstrap_s": {"median": round(statistics.median(p.get("bootstrap", 0.0) for p in phases), 3),
                        "max": round(max(p.get("bootstrap", 0.0) for p in phases), 3)},
        "waits": waits(statuses),
    }
    if channel == "s3":
        result["shuffle_store"] = "moto S3" if on_moto else "local files"
    if on_moto:
        assert s3 is not None
        result["s3_requests"] = s3.counts()
        versions = s3.client().list_object_versions(Bucket="shuffle", Prefix=f"{job_id}/")
        written = [v["Key"] for v in versions.get("Versions", [])]
        result["s3_objects_written"] = len(written)
        result["s3_objects_by_kind"] = dict(Counter(re.sub(r"\d+", "N", k.split("/", 1)[1] or "(folder marker)")
                                                    for k in written))
    return result


def growth(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Exponent of each count between the two largest world sizes, per (op, channel)."""
    rows = []
    for (op, channel) in sorted({(r["op"], r["channel"]) for r in results}):
        runs = sorted((r for r in results if r["op"] == op and r["channel"] == channel), key=lambda r: r["world"])
        if len(runs) < 2:
            continue
        a, b = runs[-2], runs[-1]
        ratio = math.log(b["world"] / a["world"])

        def exp(x: float, y: float) -> float | None:
            return round(math.log(y / x) / ratio, 2) if x > 0 and y > 0 else None

        per_cmd = {c: exp(a["commands"].get(c, 0), n) for c, n in b["commands"].items() if n >= b["world"]}
        rows.append({"op": op, "channel": channel, "worlds": [a["world"], b["world"]],
                     "commands": exp(a["commands_total"], b["commands_total"]),
                     "keys": exp(a["keys_created"], b["keys_created"]),
                     "bytes": exp(a["redis_bytes"], b["redis_bytes"]),
                     "per_command": per_cmd})
    return rows


def markdown(results: list[dict[str, Any]]) -> str:
    lines = ["| op | channel | W | commands | /W | keys | /W | Redis bytes | /W | S3 PUT | S3 GET | objects | "
             "bootstrap med/max s | barrier release s | wall s |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in sorted(results, key=lambda r: (r["op"], r["channel"], r["world"])):
        w = r["world"]
        s3 = r.get("s3_requests", {})
        release = max((v["release_latency_s"] for v in r["waits"].values()), default=0.0)
        lines.append(
            f"| {r['op']} | {r['channel']} | {w} | {r['commands_total']:,} | {r['commands_total'] / w:.1f} | "
            f"{r['keys_created']:,} | {r['keys_created'] / w:.1f} | {r['redis_bytes']:,} | "
            f"{r['redis_bytes'] / w:,.0f} | {s3.get('PUT', 0)} | {s3.get('GET range', 0) + s3.get('GET', 0)} | "
            f"{r.get('s3_objects_written', 0)} | {r['bootstrap_s']['median']}/{r['bootstrap_s']['max']} | "
            f"{release} | {r['wall_s']} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--serve-s3", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--lifetime", type=float, default=3600.0, help=argparse.SUPPRESS)
    parser.add_argument("--worlds", default="4,16,64")
    parser.add_argument("--channels", default="redis,tcp,s3")
    parser.add_argument("--ops", default="control,join")
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--out", default=None, help="directory for protocol.json and protocol.md")
    parser.add_argument("--s3-max-world", type=int, default=16,
                        help="above this W the s3 channel shuffles through local files: moto's one Python "
                             "process answered W(W-1) HEADs and GETs per step too slowly at W = 64 on a "
                             "loaded machine (curl's 3 s low-speed timeout)")
    args = parser.parse_args(argv)
    if args.serve_s3:
        serve_s3(0, args.lifetime)
        return 0

    import redis

    from airflow_provider_cylon.client.embedded_valkey import embedded_valkey

    worlds = [int(w) for w in args.worlds.split(",")]
    channels = args.channels.split(",")
    # W local processes on purpose, past the local executor's default bound on a small machine.
    os.environ.setdefault("CYLON_LOCAL_MAX_WORKERS", str(max(worlds)))
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    env = {"AWS_EC2_METADATA_DISABLED": "true"}
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="cylon-protocol-") as tmp, embedded_valkey() as url, \
            (S3Server() if "s3" in channels else _Null()) as s3:
        work = Path(tmp)
        inputs = make_inputs(work, args.rows)
        client = redis.Redis.from_url(url)
        watcher = KeyWatcher(client)
        if isinstance(s3, S3Server):
            s3.client().create_bucket(Bucket="shuffle")
            s3.client().put_bucket_versioning(Bucket="shuffle", VersioningConfiguration={"Status": "Enabled"})
        try:
            for world in worlds:
                for op in args.ops.split(","):
                    for channel in channels:
                        r = run_one(op, channel, world, inputs, work, url, client, watcher,
                                    s3 if isinstance(s3, S3Server) else None, env, args.s3_max_world)
                        results.append(r)
                        print(json.dumps(r), flush=True)
        finally:
            watcher.stop()
    summary = {"results": results, "growth": growth(results)}
    for row in summary["growth"]:
        print(json.dumps({"growth": row}), flush=True)
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "protocol.json").write_text(json.dumps(summary, indent=1) + "\n")
        (out / "protocol.md").write_text(markdown(results))
    print(markdown(results))
    return 0


class _Null:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


if __name__ == "__main__":
    sys.exit(main())
