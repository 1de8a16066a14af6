"""TPC-H: each query as one Cylon pipeline job at W = 1 and 2, next to DuckDB and Polars, on the same Parquet.

    python benchmarks/tpch.py --scale 1 --repeat 3          # SF 1 (generated with tpchgen-cli when missing)
    python benchmarks/tpch.py --scale 0.1 --queries q1,q6 --repeat 1

Contenders alternate within each round (DuckDB, Polars, W=1, W=2) and the report
gives medians, because this machine is noisy. Cylon's time is the job time: submit
to published manifest (local worker processes forked warm, an embedded Valkey started
once; ``--cold`` also times fresh ``python -m`` workers, a cold Lambda start).
DuckDB runs the official query text over ``read_parquet`` views; Polars the same
query with ``scan_parquet`` (benchmarks/tpch_polars.py). Per query it also reports
the bytes of the column chunks the workers read (before row-group skipping), the
bytes shuffled between workers and the rows out of every step. Every answer is
checked against DuckDB's before it is timed.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent))
import tpch_polars  # noqa: E402

from airflow_provider_cylon.client.compile import compile_spec  # noqa: E402
from airflow_provider_cylon.client.embedded_valkey import embedded_valkey  # noqa: E402
from airflow_provider_cylon.client.run import run_job  # noqa: E402
from airflow_provider_cylon.examples import tpch  # noqa: E402
from airflow_provider_cylon.runtime import storage  # noqa: E402
from airflow_provider_cylon.runtime.dictionary_read import dictionary_columns  # noqa: E402


def _spec(data: str, query: str, out: str, world: int) -> Any:
    p = tpch.pipelines(data)[query]
    return compile_spec({"op": "pipeline", "inputs": [{"name": k, **v} for k, v in p["inputs"].items()],
                         "steps": p["steps"], "output": {"destination": out}, "world_size": world, "channel": "tcp"})


def _column_bytes(data: str, columns_read: dict[str, list[str]], inputs: dict[str, Any]) -> int:
    total = 0
    for name, cols in columns_read.items():
        meta = pq.ParquetFile(inputs[name]["path"]).metadata
        index = {meta.schema.column(i).name: i for i in range(meta.num_columns)}
        total += sum(meta.row_group(g).column(index[c]).total_compressed_size
                     for g in range(meta.num_row_groups) for c in cols if c in index)
    return total


def _decode_floor(columns_read: dict[str, list[str]], inputs: dict[str, Any], world: int) -> float:
    """Seconds one rank spends only decoding its share (1/world of the row groups) of the columns
    the job reads, with pyarrow on one thread, warm, best of 3 (small-dictionary text columns as
    dictionaries, as the workers read them): what no worker that reads through pyarrow goes
    below, whatever it does after the decode (no predicate, no filter, no copy)."""
    threads = pa.cpu_count()
    pa.set_cpu_count(1)
    try:
        total = 0.0
        for name, cols in columns_read.items():
            source = pa.memory_map(inputs[name]["path"])
            pf = pq.ParquetFile(source, pre_buffer=True)
            groups = list(range(0, pf.metadata.num_row_groups, world))
            # text columns with small dictionaries decoded as the workers decode them
            via = dictionary_columns(pf.metadata, pf.schema_arrow, groups, cols)
            pf = pq.ParquetFile(source, metadata=pf.metadata, pre_buffer=True, read_dictionary=via or None)
            best = float("inf")
            for _ in range(3):
                start = time.perf_counter()
                pf.read_row_groups(groups, columns=cols)
                best = min(best, time.perf_counter() - start)
            total += best
        return total
    finally:
        pa.set_cpu_count(threads)


def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    data = str(tpch.generate(Path(args.data or f"/tmp/cylon-tpch/sf{args.scale}"), args.scale))
    con = duckdb.connect()
    for t in tpch.TABLES:
        con.execute(f"CREATE VIEW {t} AS SELECT * FROM read_parquet('{data}/{t}.parquet')")
    queries = args.queries.split(",") if args.queries else list(tpch.SQL)
    worlds = [int(w) for w in args.worlds.split(",")]
    results = []
    with tempfile.TemporaryDirectory(prefix="cylon-tpch-") as tmp, embedded_valkey() as url:
        for q in queries:
            times: dict[str, list[float]] = {"duckdb": [], "polars": [], **{f"w{w}": [] for w in worlds},
                                             **{f"w{w}_work": [] for w in worlds}}
            detail: dict[str, Any] = {}
            for r in range(args.repeat):
                start = time.perf_counter()
                want = con.sql(tpch.SQL[q]).to_arrow_table()
                times["duckdb"].append(time.perf_counter() - start)
                start = time.perf_counter()
                tpch_polars.QUERIES[q](data).collect()
                times["polars"].append(time.perf_counter() - start)
                if args.cold:  # the largest W again, each worker a fresh process (a cold Lambda start)
                    os.environ["CYLON_WARM_WORKERS"] = "0"
                    try:
                        start = time.perf_counter()
                        run_job(_spec(data, q, f"{tmp}/{q}-cold", worlds[-1]), redis_url=url)
                        times.setdefault("cold", []).append(time.perf_counter() - start)
                    finally:
                        os.environ.pop("CYLON_WARM_WORKERS")
                for w in worlds:
                    out = f"{tmp}/{q}-w{w}"
                    start = time.perf_counter()
                    manifest = run_job(_spec(data, q, out, w), redis_url=url)
                    times[f"w{w}"].append(time.perf_counter() - start)
                    # the workers' own time (read + compute + write, slowest rank): the job time less
                    # what every job pays whatever its data (process start, imports, bootstrap, waits)
                    times[f"w{w}_work"].append(max(sum(s["phases"].get(k, 0.0) for k in ("read", "compute", "write"))
                                                   for s in manifest["workers"]))
                    if r == 0:
                        got = storage.read_output(out)
                        if got.num_rows != want.num_rows:
                            raise SystemExit(f"{q} W={w}: {got.num_rows} rows, DuckDB {want.num_rows}")
                        workers = manifest["workers"]
                        steps: dict[str, int] = {}
                        for status in workers:
                            for name, s in status.get("steps", {}).items():
                                steps[name] = steps.get(name, 0) + int(s["rows"])
                        detail[f"w{w}"] = {
                            "bytes_read": _column_bytes(data, workers[0].get("columns_read", {}),
                                                        tpch.pipelines(data)[q]["inputs"]),
                            "decode_floor_s": _decode_floor(workers[0].get("columns_read", {}),
                                                            tpch.pipelines(data)[q]["inputs"], w),
                            "bytes_shuffled": sum(int(s.get("bytes_shuffled", 0)) for s in workers),
                            "rows_per_step": steps}
            med = {k: statistics.median(v) for k, v in times.items()}
            row = {"query": q, "median_s": med, **{f"w{w}_vs_duckdb": med[f"w{w}"] / med["duckdb"] for w in worlds},
                   **{f"w{w}_vs_polars": med[f"w{w}"] / med["polars"] for w in worlds}, "detail": detail}
            results.append(row)
            print(f"{q:>4}  duckdb {med['duckdb']:.3f}s  polars {med['polars']:.3f}s  "
                  + "  ".join(f"W={w} {med[f'w{w}']:.3f}s ({row[f'w{w}_vs_duckdb']:.2f}x duckdb; "
                              f"workers {med[f'w{w}_work']:.3f}s)" for w in worlds)
                  + (f"  cold W={worlds[-1]} {med['cold']:.3f}s ({med['cold'] / med['duckdb']:.2f}x)"
                     if args.cold else "")
                  + f"  decode floor {detail[f'w{worlds[-1]}']['decode_floor_s']:.3f}s"
                  f" ({detail[f'w{worlds[-1]}']['decode_floor_s'] / med['duckdb']:.2f}x duckdb)"
                  + f"  read {detail[f'w{worlds[-1]}']['bytes_read'] / 1e6:.1f} MB"
                  f"  shuffled {detail[f'w{worlds[-1]}']['bytes_shuffled'] / 1e6:.1f} MB", flush=True)
    for w in worlds:
        geo = statistics.geometric_mean(r[f"w{w}_vs_duckdb"] for r in results)
        print(f"geometric mean W={w}: {geo:.2f}x DuckDB, "
              f"{statistics.geometric_mean(r[f'w{w}_vs_polars'] for r in results):.2f}x Polars")
    floor = statistics.geometric_mean(r["detail"][f"w{worlds[-1]}"]["decode_floor_s"] / r["median_s"]["duckdb"]
                                      for r in results)
    print(f"geometric mean decode floor W={worlds[-1]} (one rank's pyarrow decode alone): {floor:.2f}x DuckDB")
    if args.cold:
        geo = statistics.geometric_mean(r["median_s"]["cold"] / r["median_s"]["duckdb"] for r in results)
        print(f"geometric mean cold W={worlds[-1]}: {geo:.2f}x DuckDB")
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=1.0, help="TPC-H scale factor")
    parser.add_argument("--data", default=None, help="directory of {table}.parquet (generated when missing)")
    parser.add_argument("--queries", default=None, help="comma-separated, e.g. q1,q6 (default: all)")
    parser.add_argument("--worlds", default="1,2", help="comma-separated worker counts")
    parser.add_argument("--repeat", type=int, default=3, help="alternating rounds per query")
    parser.add_argument("--cold", action="store_true",
                        help="also time the largest W with cold worker processes (CYLON_WARM_WORKERS=0)")
    parser.add_argument("--json", default=None, help="also write the results to this JSON file")
    args = parser.parse_args(argv)
    results = run(args)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
