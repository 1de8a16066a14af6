"""Kernel benchmark: ours next to DuckDB, pyarrow and Polars on the same data, in one process.

Workloads (issue #2):
  join       10M x 10M int64 keys (left random in [0, n), right a permutation of [0, n)),
             one float64 payload each, inner join materialised
  groupby    sum over 10M rows with about 6.3M groups (keys random in [0, n))
  sort       10M int64 (one column: the kernel sorts the values themselves)
  sort_payload  10M int64 keys carrying a float64 payload (permutation + take)
  partition  hash_partition of 10M rows x 3 int64 columns into 64 parts

Each measurement is the best of --repeat runs (this machine is noisy); ratios
are ours / peer. Peak memory of our join is measured in a fresh subprocess
(VmHWM minus the RSS after loading the inputs) and compared with inputs + output.

    python benchmarks/kernel.py [--rows 10000000] [--repeat 3] [--json out.json]
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from airflow_provider_cylon import kernel


def best_of(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        gc.collect()
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
        del out
    return min(times)


def join_data(n: int) -> tuple[pa.Table, pa.Table]:
    rng = np.random.default_rng(42)
    left = pa.table({"key": rng.integers(0, n, n, dtype=np.int64), "lv": rng.random(n)})
    right = pa.table({"key": rng.permutation(n).astype(np.int64), "rv": rng.random(n)})
    return left, right


def groupby_data(n: int) -> pa.Table:
    rng = np.random.default_rng(7)
    return pa.table({"key": rng.integers(0, n, n, dtype=np.int64), "v": rng.random(n)})


def sort_data(n: int) -> pa.Table:
    rng = np.random.default_rng(11)
    return pa.table({"key": rng.integers(-(2**62), 2**62, n, dtype=np.int64)})


def partition_data(n: int) -> pa.Table:
    rng = np.random.default_rng(13)
    return pa.table({f"c{i}": rng.integers(0, 2**40, n, dtype=np.int64) for i in range(3)})


def versus_peers(
    tables: dict[str, pa.Table],
    ours: Callable[[], object],
    sql: str,
    with_pyarrow: Callable[[], object],
    with_polars: Callable[[dict], object],
    repeat: int,
) -> dict[str, float]:
    """Best-of times of ours and of DuckDB (``sql`` over ``tables``), pyarrow and Polars."""
    import duckdb
    import polars as pl

    con = duckdb.connect()
    for name, t in tables.items():
        con.register(name, t)
    frames = {name: pl.from_arrow(t) for name, t in tables.items()}
    return {
        "cylon": best_of(ours, repeat),
        "duckdb": best_of(lambda: con.sql(sql).to_arrow_table(), repeat),
        "pyarrow": best_of(with_pyarrow, repeat),
        "polars": best_of(lambda: with_polars(frames), repeat),
    }


def bench_join(n: int, repeat: int) -> dict[str, float]:
    left, right = join_data(n)
    return versus_peers(
        {"l": left, "r": right},
        lambda: kernel.join(left, right, on="key"),
        "SELECT * FROM l JOIN r USING (key)",
        lambda: left.join(right, "key", join_type="inner"),
        lambda f: f["l"].join(f["r"], on="key", how="inner"),
        repeat,
    )


def bench_groupby(n: int, repeat: int) -> dict[str, float]:
    import polars as pl

    t = groupby_data(n)
    groups = pc.count_distinct(t.column("key")).as_py()
    print(f"  groupby: {n} rows, {groups} groups", file=sys.stderr)
    return versus_peers(
        {"t": t},
        lambda: kernel.groupby(t, "key", {"v": "sum"}),
        "SELECT key, sum(v) FROM t GROUP BY key",
        lambda: t.group_by("key").aggregate([("v", "sum")]),
        lambda f: f["t"].group_by("key").agg(pl.col("v").sum()),
        repeat,
    )


def bench_sort(n: int, repeat: int) -> dict[str, float]:
    t = sort_data(n)
    return versus_peers({"t": t}, lambda: kernel.sort(t, "key"), "SELECT * FROM t ORDER BY key",
                        lambda: t.sort_by("key"), lambda f: f["t"].sort("key"), repeat)


def bench_sort_payload(n: int, repeat: int) -> dict[str, float]:
    """Sort by an int64 key carrying a float64 payload (the permutation + take path)."""
    t = sort_data(n).append_column("v", pa.array(np.random.default_rng(12).random(n)))
    return versus_peers({"t": t}, lambda: kernel.sort(t, "key"), "SELECT * FROM t ORDER BY key",
                        lambda: t.sort_by("key"), lambda f: f["t"].sort("key"), repeat)


def bench_partition(n: int, repeat: int) -> dict[str, float]:
    t = partition_data(n)
    seconds = best_of(lambda: kernel.hash_partition(t, ["c0", "c1", "c2"], 64), repeat)
    return {"cylon": seconds, "gb_per_s": t.nbytes / seconds / 1e9}


def join_peak_memory(n: int) -> dict[str, float]:
    """Runs our join in a fresh interpreter; returns MB of inputs, output and peak growth (VmHWM)."""
    code = f"""
import json, sys
sys.path.insert(0, {os.path.dirname(os.path.abspath(__file__))!r})
from kernel import join_data
from airflow_provider_cylon import kernel
def status_mb(field):
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith(field + ':'):
                return int(line.split()[1]) / 1024
left, right = join_data({n})
base = status_mb('VmRSS')
out = kernel.join(left, right, on='key')
# VmHWM, not ru_maxrss: Linux carries the parent's RSS at fork into a child's ru_maxrss.
peak = status_mb('VmHWM')
print(json.dumps({{"inputs_mb": (left.nbytes + right.nbytes) / 2**20, "output_mb": out.nbytes / 2**20,
                   "peak_growth_mb": peak - base}}))
"""
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--only", choices=["join", "groupby", "sort", "sort_payload", "partition", "memory"],
                        action="append")
    parser.add_argument("--json", help="write the figures to this file")
    args = parser.parse_args()
    which = args.only or ["join", "groupby", "sort", "sort_payload", "partition", "memory"]
    results: dict[str, dict[str, float]] = {"meta": {"rows": args.rows, "threads": kernel._native._ext.num_threads(),
                                                   "cpus": os.cpu_count() or 0}}
    benches = {"join": bench_join, "groupby": bench_groupby, "sort": bench_sort, "sort_payload": bench_sort_payload,
               "partition": bench_partition}
    for name in which:
        if name == "memory":
            continue
        print(f"running {name} ...", file=sys.stderr)
        results[name] = benches[name](args.rows, args.repeat)
    if "memory" in which:
        results["join_memory"] = join_peak_memory(args.rows)

    print(f"\nrows={args.rows}  kernel threads={results['meta']['threads']}  (best of {args.repeat}, seconds)")
    for name in ("join", "groupby", "sort", "sort_payload"):
        if name not in results:
            continue
        r = results[name]
        peers = "  ".join(f"{p} {r[p]:.3f}s (x{r['cylon'] / r[p]:.2f})" for p in ("duckdb", "pyarrow", "polars"))
        print(f"{name:9s} cylon {r['cylon']:.3f}s | {peers}")
    if "partition" in results:
        r = results["partition"]
        print(f"partition cylon {r['cylon']:.3f}s = {r['gb_per_s']:.2f} GB/s (3 x int64 columns, 64 parts)")
    if "join_memory" in results:
        m = results["join_memory"]
        ratio = m["peak_growth_mb"] / (m["inputs_mb"] + m["output_mb"])
        print(f"join peak memory growth {m['peak_growth_mb']:.0f} MB vs inputs {m['inputs_mb']:.0f} MB + "
              f"output {m['output_mb']:.0f} MB (x{ratio:.2f} of inputs + output)")
        results["join_memory"]["ratio"] = ratio
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
