"""Weak and strong scaling of the distributed join and sort (the seed's experiment).

Each rank r generates two int64 tables of shape (rows, 2) with values in
[0, rows * W * 0.9) from ``numpy.random.default_rng(r)`` (the seed's
``seed = rank``); they are written as one Parquet file per rank, so rank r reads
exactly its own data. The job then runs on W local worker processes
(``run_job``), and the figure reported is the time between the barrier after
reading and the barrier after computing (the slowest rank's compute + wait),
i.e. the operation alone, without process start-up or I/O. DuckDB runs the same
query in one process on the same data, already loaded in memory, next to it.

Weak scaling: ``--rows`` per rank, W = 1, 2, 4. Strong scaling: ``--total`` rows
split over W ranks.

``--parquet-join N`` instead times the issue's end-to-end target: an N x N int64
join from two Parquet files to a Parquet output, whole job wall time (process
start-up, read, shuffle, join, write, commit) for W = 1 and 2, next to DuckDB's
``COPY (SELECT ... JOIN ...) TO 'out.parquet'`` on the same files.

    python benchmarks/scaling.py --rows 200000 --total 400000 --channel tcp
    python benchmarks/scaling.py --parquet-join 10000000
"""
from __future__ import annotations

import argparse
import json
import logging
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from airflow_provider_cylon.client.embedded_valkey import embedded_valkey
from airflow_provider_cylon.client.run import run_job
from airflow_provider_cylon.runtime.spec import JobSpec


def generate(root: Path, world: int, rows: int) -> tuple[str, str]:
    """Write rank r's left/right tables (seed r) as ``left/r{r}.parquet`` and ``right/r{r}.parquet``."""
    high = max(1, int(rows * world * 0.9))
    for side in ("left", "right"):
        (root / side).mkdir(parents=True, exist_ok=True)
    for rank in range(world):
        rng = np.random.default_rng(rank)
        for side in ("left", "right"):
            data = rng.integers(0, high, size=(rows, 2), dtype=np.int64)
            pq.write_table(pa.table({"c0": data[:, 0], "c1": data[:, 1]}), root / side / f"r{rank:05d}.parquet",
                           compression="none")
    return str(root / "left"), str(root / "right")


def between_barriers(manifest: dict) -> float:
    """Slowest rank's time from the 'read' barrier to the 'computed' barrier."""
    return max(w["phases"].get("compute", 0.0) + w["phases"].get("wait_computed", 0.0) for w in manifest["workers"])


def run_cylon(op: str, left: str, right: str, out: str, world: int, channel: str, redis_url: str) -> tuple[float, float, int]:
    if op == "join":
        spec = JobSpec.for_op("join", [left, right], out, on="c0", how="inner", channel=channel,
                              broadcast_threshold_bytes=0, timeout_s=600)
    else:
        spec = JobSpec.for_op("sort", [left], out, by="c0", channel=channel, timeout_s=600)
    start = time.perf_counter()
    manifest = run_job(spec, world_size=world, redis_url=redis_url)
    wall = time.perf_counter() - start
    return between_barriers(manifest), wall, int(manifest["rows"])


def run_duckdb(op: str, left: str, right: str) -> tuple[float, int]:
    import duckdb

    con = duckdb.connect()
    con.execute(f"CREATE TABLE l AS SELECT * FROM read_parquet('{left}/*.parquet')")
    con.execute(f"CREATE TABLE r AS SELECT * FROM read_parquet('{right}/*.parquet')")
    query = ("CREATE TABLE o AS SELECT l.c0, l.c1, r.c1 AS c1_y FROM l JOIN r ON l.c0 = r.c0" if op == "join"
             else "CREATE TABLE o AS SELECT * FROM l ORDER BY c0")
    start = time.perf_counter()
    con.execute(query)
    elapsed = time.perf_counter() - start
    rows = con.execute("SELECT count(*) FROM o").fetchone()[0]
    con.close()
    return elapsed, int(rows)


def parquet_join(rows: int, channel: str, redis_url: str | None, root: Path, repeat: int = 3) -> None:
    """End-to-end Parquet -> Parquet join of ``rows`` x ``rows``: run_job (W=1, 2) vs DuckDB COPY.

    The runs alternate (DuckDB, W=1, W=2, DuckDB, ...) so that a noisy neighbour hits
    every contender alike; the table reports the median and the best of ``repeat`` runs
    and the ratio of the medians.
    """
    import duckdb

    rng = np.random.default_rng(0)
    paths = {}
    for side in ("left", "right"):
        data = rng.integers(0, max(1, int(rows * 0.9)), size=(rows, 2), dtype=np.int64)
        paths[side] = str(root / f"{side}.parquet")
        pq.write_table(pa.table({"c0": data[:, 0], "c1": data[:, 1]}), paths[side], row_group_size=1 << 20)
    query = (f"COPY (SELECT l.c0, l.c1, r.c1 AS c1_y FROM read_parquet('{paths['left']}') l JOIN "
             f"read_parquet('{paths['right']}') r ON l.c0 = r.c0) TO '{root / 'duck.parquet'}' "
             "(FORMAT parquet, COMPRESSION zstd)")
    duck: list[float] = []
    jobs: dict[int, list[tuple[float, dict[str, float]]]] = {1: [], 2: []}
    duck_rows = None
    with embedded_valkey() if redis_url is None else _given(redis_url) as url:
        for _ in range(repeat):
            con = duckdb.connect()
            start = time.perf_counter()
            con.execute(query)
            duck.append(time.perf_counter() - start)
            duck_rows = con.execute(f"SELECT count(*) FROM read_parquet('{root / 'duck.parquet'}')").fetchone()[0]
            con.close()
            for world in jobs:
                spec = JobSpec.for_op("join", [paths["left"], paths["right"]], str(root / "out"), on="c0",
                                      channel=channel, broadcast_threshold_bytes=0, timeout_s=900)
                start = time.perf_counter()
                manifest = run_job(spec, world_size=world, redis_url=url)
                wall = time.perf_counter() - start
                assert manifest["rows"] == duck_rows, (manifest["rows"], duck_rows)
                phases = {k: max(w["phases"].get(k, 0.0) for w in manifest["workers"])
                          for k in ("read", "compute", "write")}
                phases["peak_mb"] = max(w.get("peak_memory_bytes", 0) for w in manifest["workers"]) / 2**20
                jobs[world].append((wall, phases))
    duck_median = statistics.median(duck)
    print(f"\n{rows:,d} x {rows:,d} rows -> {duck_rows:,d} rows, channel={channel}, {repeat} alternating runs; "
          f"DuckDB COPY median {duck_median:.2f} s (best {min(duck):.2f} s)\n")
    print("| W | job s (median) | best s | read s | compute s | write s | peak MB/worker | job/DuckDB (medians) |")
    print("|---|---|---|---|---|---|---|---|")
    for world, runs in jobs.items():
        walls = [w for w, _ in runs]
        median_run = sorted(runs, key=lambda r: r[0])[len(runs) // 2][1]
        median = statistics.median(walls)
        print(f"| {world} | {median:.2f} | {min(walls):.2f} | {median_run['read']:.2f} | {median_run['compute']:.2f} | "
              f"{median_run['write']:.2f} | {median_run['peak_mb']:.0f} | {median / duck_median:.2f} |", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=200_000, help="weak scaling: rows per rank")
    parser.add_argument("--total", type=int, default=400_000, help="strong scaling: total rows")
    parser.add_argument("--worlds", default="1,2,4", help="comma-separated world sizes")
    parser.add_argument("--channel", default="tcp", choices=["redis", "tcp", "s3"])
    parser.add_argument("--ops", default="join,sort")
    parser.add_argument("--redis-url", default=None, help="Redis to use (default: an embedded Valkey)")
    parser.add_argument("--json", default=None, help="also write the results to this JSON file")
    parser.add_argument("--parquet-join", type=int, default=None, metavar="N",
                        help="run the end-to-end N x N Parquet join comparison instead")
    parser.add_argument("--repeat", type=int, default=3, help="--parquet-join: alternating runs per contender")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    if args.parquet_join:
        tmp = Path(tempfile.mkdtemp(prefix="cylon-pqjoin-"))
        try:
            parquet_join(args.parquet_join, args.channel, args.redis_url, tmp, args.repeat)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return 0
    worlds = [int(w) for w in args.worlds.split(",")]
    ops = args.ops.split(",")
    results = []
    tmp = Path(tempfile.mkdtemp(prefix="cylon-scaling-"))
    try:
        with embedded_valkey() if args.redis_url is None else _given(args.redis_url) as url:
            for mode in ("weak", "strong"):
                for world in worlds:
                    rows = args.rows if mode == "weak" else max(1, args.total // world)
                    root = tmp / f"{mode}-w{world}"
                    left, right = generate(root, world, rows)
                    for op in ops:
                        cylon_s, wall_s, out_rows = run_cylon(op, left, right, str(root / f"out-{op}"), world,
                                                              args.channel, url)
                        duck_s, duck_rows = run_duckdb(op, left, right)
                        if duck_rows != out_rows:
                            print(f"MISMATCH {mode} {op} W={world}: cylon {out_rows} rows, duckdb {duck_rows}",
                                  file=sys.stderr)
                        results.append({"mode": mode, "op": op, "world": world, "rows_per_rank": rows,
                                        "total_rows": rows * world, "out_rows": out_rows, "cylon_s": cylon_s,
                                        "cylon_wall_s": wall_s, "duckdb_s": duck_s})
                        print(f"{mode:6s} {op:4s} W={world} rows/rank={rows:>9,d} cylon={cylon_s:7.3f}s "
                              f"(job {wall_s:6.2f}s) duckdb={duck_s:7.3f}s", file=sys.stderr, flush=True)
                    shutil.rmtree(root, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"\nchannel={args.channel}; cylon = slowest rank between the read and computed barriers; "
          "job = whole run_job wall time; duckdb = same query in one process on in-memory tables\n")
    header = f"| {'mode':6s} | {'op':4s} | {'W':>2s} | {'rows/rank':>10s} | {'total rows':>10s} | {'cylon s':>8s} | " \
             f"{'job s':>7s} | {'duckdb s':>8s} | {'cylon/duckdb':>12s} |"
    print(header)
    print("|" + "|".join("-" * (len(c)) for c in header.split("|")[1:-1]) + "|")
    for r in results:
        ratio = r["cylon_s"] / r["duckdb_s"] if r["duckdb_s"] > 0 else float("nan")
        print(f"| {r['mode']:6s} | {r['op']:4s} | {r['world']:>2d} | {r['rows_per_rank']:>10,d} | "
              f"{r['total_rows']:>10,d} | {r['cylon_s']:>8.3f} | {r['cylon_wall_s']:>7.2f} | {r['duckdb_s']:>8.3f} | "
              f"{ratio:>12.2f} |")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return 0


class _given:
    """Context manager yielding a given URL (mirror of embedded_valkey)."""

    def __init__(self, url: str) -> None:
        self.url = url

    def __enter__(self) -> str:
        return self.url

    def __exit__(self, *exc: object) -> None:
        return None


if __name__ == "__main__":
    sys.exit(main())
