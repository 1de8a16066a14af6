"""Kernel benchmark: ours next to DuckDB, pyarrow and Polars on the same data, in one process.

Workloads (issue #2):
  join       10M x 10M int64 keys (left random in [0, n), right a permutation of [0, n)),
             one float64 payload each, inner join materialised
  groupby    sum over 10M rows with about 6.3M groups (keys random in [0, n))
  sort       10M int64 (one column: the kernel sorts the values themselves)
  sort_payload  10M int64 keys carrying a float64 payload (permutation + take)
  partition  hash_partition of 10M rows x 3 int64 columns into 64 parts

The matrix (issue #10): every cell is one query shape run by us, DuckDB,
Polars and pyarrow on the same Arrow data in one process, with ratios (ours /
peer), our rows/s, and geometric means of the ratios:
  groupby    groups {10, 1k, 100k, 1M, ~N} x keys {int64, int32 small range, two int64,
             string, dictionary string, decimal128} x aggs {sum; sum+mean+count; min/max; nunique}
  join       keys {int64, string, two int64} x {unique build side, duplicates on both sides,
             1k-row build side, 1% of probe rows matching} x {inner, left, semi}
  sort       {int64, float64, string, (string, int64)} x {keys only, with a float64 payload}
  decimal    sum, mean, min/max of decimal128(15, 2), not grouped and by 1k int64 groups
Sizes: 10M rows for fixed-width keys, 3M for strings (--quick: 1M / 300k and fewer cells).

Each measurement is the best of --repeat runs (this machine is noisy); ratios
are ours / peer. Peak memory of our join is measured in a fresh subprocess
(VmHWM minus the RSS after loading the inputs) and compared with inputs + output.

    python benchmarks/kernel.py [--rows 10000000] [--repeat 3] [--json out.json]   # headline + matrix
    python benchmarks/kernel.py --quick [--cells REGEX] [--svg ratios.svg]         # small matrix only
"""
from __future__ import annotations

import argparse
import gc
import json
import math
import os
import re
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


# ---------------------------------------------------------------------------------------------
# The matrix
# ---------------------------------------------------------------------------------------------

class Cell:
    """One query shape: ours, DuckDB's SQL, pyarrow's and Polars' versions, over named tables."""

    def __init__(self, name: str, tables: Callable[[], dict[str, pa.Table]], ours: Callable[[dict], object],
                 sql: str, with_pyarrow: Callable[[dict], object] | None,
                 with_polars: Callable[[dict], object] | None) -> None:
        self.name, self.tables, self.ours, self.sql = name, tables, ours, sql
        self.with_pyarrow, self.with_polars = with_pyarrow, with_polars


_cache: dict[tuple, pa.Table] = {}


def cached(key: tuple, make: Callable[[], pa.Table]) -> pa.Table:
    """Data shared by the cells of one shape (generated once, freed when the shape changes)."""
    if key not in _cache:
        _cache.clear()
        gc.collect()
        _cache[key] = make()
    return _cache[key]


def string_keys(codes: np.ndarray) -> pa.Array:
    """Distinct codes as distinct strings of 10-18 bytes (some inline in a view, most not)."""
    return pc.binary_join_element_wise("cust#", pa.array(codes).cast(pa.string()), "-de", "")


def decimal_array(unscaled: np.ndarray, precision: int, scale: int) -> pa.Array:
    """decimal128(precision, scale) values from int64 unscaled values (two's complement words)."""
    words = np.empty((len(unscaled), 2), dtype=np.int64)
    words[:, 0] = unscaled
    words[:, 1] = unscaled >> 63
    return pa.Array.from_buffers(pa.decimal128(precision, scale), len(unscaled), [None, pa.py_buffer(words)])


def key_columns(kind: str, groups: int, n: int, seed: int) -> dict[str, pa.Array]:
    """Key column(s) of ``kind`` with (about) ``groups`` distinct values over ``n`` rows."""
    rng = np.random.default_rng(seed)
    pick = rng.integers(0, groups, n)
    if kind == "int32_range":
        return {"k": pa.array(pick.astype(np.int32))}
    if kind == "int64":
        pool = rng.integers(-(2**62), 2**62, groups)
        return {"k": pa.array(pool[pick])}
    if kind == "two_int64":
        side = max(1, int(math.sqrt(groups)))
        a, b = rng.integers(-(2**62), 2**62, side), rng.integers(-(2**62), 2**62, -(-groups // side))
        return {"k": pa.array(a[pick % side]), "k2": pa.array(b[pick // side])}
    if kind in ("string", "dict_string"):
        pool = string_keys(rng.permutation(groups) * 7919)
        arr = pool.take(pa.array(pick))
        return {"k": arr.dictionary_encode() if kind == "dict_string" else arr}
    if kind == "decimal128":
        return {"k": decimal_array(rng.integers(-(10**13), 10**13, groups)[pick], 15, 2)}
    raise ValueError(kind)


GROUPBY_AGGS = {
    "sum": ({"v": ["sum"]}, "sum(v) AS v_sum", [("v", "sum")], lambda pl: [pl.col("v").sum()]),
    "sum_mean_count": ({"v": ["sum", "mean", "count"]}, "sum(v), avg(v), count(v)",
                       [("v", "sum"), ("v", "mean"), ("v", "count")],
                       lambda pl: [pl.col("v").sum().alias("s"), pl.col("v").mean().alias("m"),
                                   pl.col("v").count().alias("c")]),
    "min_max": ({"v": ["min", "max"]}, "min(v), max(v)", [("v", "min"), ("v", "max")],
                lambda pl: [pl.col("v").min().alias("lo"), pl.col("v").max().alias("hi")]),
    "nunique": ({"w": ["nunique"]}, "count(DISTINCT w)", [("w", "count_distinct")],
                lambda pl: [pl.col("w").n_unique()]),
}


def groupby_cells(n_fixed: int, n_strings: int, group_counts: list[int], kinds: list[str]) -> list[Cell]:
    import polars as pl

    cells = []
    for kind in kinds:
        n = n_strings if "string" in kind else n_fixed
        for g in group_counts:
            groups = min(g, n)

            def make(kind: str = kind, groups: int = groups, n: int = n) -> pa.Table:
                cols = key_columns(kind, groups, n, seed=groups)
                rng = np.random.default_rng(5)
                cols["v"] = pa.array(rng.random(n))
                cols["w"] = pa.array(rng.integers(0, 1000, n).astype(np.int32))
                return pa.table(cols)

            keys = ["k", "k2"] if kind == "two_int64" else ["k"]
            label = "N" if g >= n else (f"{g // 1000}k" if g >= 1000 and g < 10**6 else (f"{g // 10**6}M" if g >= 10**6 else str(g)))
            for agg, (ours, sql, pa_aggs, pl_aggs) in GROUPBY_AGGS.items():
                cells.append(Cell(
                    f"groupby/{kind}/{label}/{agg}",
                    lambda make=make, kind=kind, groups=groups, n=n: {"t": cached(("g", kind, groups, n), make)},
                    lambda d, keys=keys, ours=ours: kernel.groupby(d["t"], keys, ours),
                    f"SELECT {', '.join(keys)}, {sql} FROM t GROUP BY {', '.join(keys)}",
                    lambda d, keys=keys, pa_aggs=pa_aggs: d["t"].group_by(keys).aggregate(pa_aggs),
                    lambda f, keys=keys, pl_aggs=pl_aggs: f["t"].group_by(keys).agg(pl_aggs(pl)),
                ))
    return cells


def join_tables(kind: str, shape: str, n: int) -> dict[str, pa.Table]:
    rng = np.random.default_rng(21)
    if shape == "unique":
        lk, rk = rng.integers(0, n, n), rng.permutation(n)
    elif shape == "dups":
        lk, rk = rng.integers(0, int(n * 0.9), n), rng.integers(0, int(n * 0.9), n)
    elif shape == "build1k":
        lk, rk = rng.integers(0, 1000, n), np.arange(1000)
    else:  # 1% of probe rows match
        lk, rk = rng.integers(0, 100 * n, n), rng.permutation(n)

    def keys(codes: np.ndarray) -> dict[str, pa.Array]:
        if kind == "string":
            return {"k": string_keys(codes)}
        if kind == "two_int64":
            return {"k": pa.array(codes // 1000), "k2": pa.array(codes % 1000)}
        return {"k": pa.array(codes.astype(np.int64) * 2654435761)}

    left = pa.table({**keys(lk), "lv": pa.array(rng.random(len(lk)))})
    right = pa.table({**keys(rk), "rv": pa.array(rng.random(len(rk)))})
    return {"l": left, "r": right}


def join_cells(n_fixed: int, n_strings: int, kinds: list[str], shapes: list[str], hows: list[str]) -> list[Cell]:
    cells = []
    for kind in kinds:
        n = n_strings if kind == "string" else n_fixed
        on = ["k", "k2"] if kind == "two_int64" else ["k"]
        for shape in shapes:
            for how in hows:
                sql_how = {"inner": "JOIN", "left": "LEFT JOIN", "semi": "SEMI JOIN"}[how]
                pa_how = {"inner": "inner", "left": "left outer", "semi": "left semi"}[how]
                cells.append(Cell(
                    f"join/{kind}/{shape}/{how}",
                    lambda kind=kind, shape=shape, n=n: cached(("j", kind, shape, n),
                                                               lambda: join_tables(kind, shape, n)),
                    lambda d, on=on, how=how: kernel.join(d["l"], d["r"], on=on, how=how),
                    f"SELECT * FROM l {sql_how} r USING ({', '.join(on)})",
                    lambda d, on=on, pa_how=pa_how: d["l"].join(d["r"], on, join_type=pa_how),
                    lambda f, on=on, how=how: f["l"].join(f["r"], on=on, how=how),
                ))
    return cells


def sort_cells(n_fixed: int, n_strings: int, kinds: list[str]) -> list[Cell]:
    cells = []
    for kind in kinds:
        n = n_strings if "string" in kind else n_fixed
        by = ["s", "i"] if kind == "string_int" else ["k"]

        def make(kind: str = kind, n: int = n) -> pa.Table:
            rng = np.random.default_rng(31)
            if kind == "int64":
                cols = {"k": pa.array(rng.integers(-(2**62), 2**62, n))}
            elif kind == "float64":
                cols = {"k": pa.array(rng.standard_normal(n))}
            elif kind == "string":
                cols = {"k": string_keys(rng.integers(0, 10 * n, n))}
            else:
                cols = {"s": string_keys(rng.integers(0, n // 10, n)), "i": pa.array(rng.integers(0, 2**40, n))}
            cols["p"] = pa.array(rng.random(n))
            return pa.table(cols)

        for payload in (False, True):
            def tables(make=make, kind=kind, n=n, payload=payload, by=by) -> dict[str, pa.Table]:
                t = cached(("s", kind, n), make)
                return {"t": t if payload else t.select(by)}

            cells.append(Cell(
                f"sort/{kind}/{'payload' if payload else 'keys'}", tables,
                lambda d, by=by: kernel.sort(d["t"], by),
                f"SELECT * FROM t ORDER BY {', '.join(by)}",
                lambda d, by=by: d["t"].sort_by([(b, "ascending") for b in by]),
                lambda f, by=by: f["t"].sort(by),
            ))
    return cells


def decimal_cells(n: int) -> list[Cell]:
    import polars as pl

    def make() -> pa.Table:
        rng = np.random.default_rng(41)
        price = decimal_array(rng.integers(-(10**9), 10**11, n), 15, 2)
        return pa.table({"g": pa.array(rng.integers(0, 1000, n)), "d": price})

    aggs = {"sum": ("sum", "sum(d)", lambda: pl.col("d").sum()), "mean": ("mean", "avg(d)", lambda: pl.col("d").mean()),
            "min_max": (["min", "max"], "min(d), max(d)", None)}
    cells = []
    for grouped in (False, True):
        keys = ["g"] if grouped else []
        for name, (ours, sql, pl_agg) in aggs.items():
            ops = ours if isinstance(ours, list) else [ours]
            pl_aggs = (lambda: [pl.col("d").min().alias("lo"), pl.col("d").max().alias("hi")]) if pl_agg is None \
                else (lambda pl_agg=pl_agg: [pl_agg()])
            pa_aggs = [("d", "mean" if o == "mean" else o) for o in ops]
            cells.append(Cell(
                f"decimal/{'grouped' if grouped else 'global'}/{name}",
                lambda: {"t": cached(("d", n), make)},
                lambda d, keys=keys, ops=ops: kernel.groupby(d["t"], keys, {"d": ops}),
                f"SELECT {''.join(k + ', ' for k in keys)}{sql} FROM t{' GROUP BY g' if grouped else ''}",
                lambda d, keys=keys, pa_aggs=pa_aggs: d["t"].group_by(keys).aggregate(pa_aggs),
                (lambda f, keys=keys, pl_aggs=pl_aggs: f["t"].group_by(keys).agg(pl_aggs())) if grouped
                else (lambda f, pl_aggs=pl_aggs: f["t"].select(pl_aggs())),
            ))
    return cells


def matrix_cells(quick: bool, n_fixed: int, n_strings: int) -> list[Cell]:
    keys = ["int64", "int32_range", "two_int64", "string", "dict_string", "decimal128"]
    if quick:
        return (groupby_cells(n_fixed, n_strings, [10, 1000, 100_000], keys)
                + join_cells(n_fixed, n_strings, ["int64", "string", "two_int64"], ["unique", "build1k"], ["inner"])
                + sort_cells(n_fixed, n_strings, ["int64", "string"])
                + decimal_cells(n_fixed))
    return (groupby_cells(n_fixed, n_strings, [10, 1000, 100_000, 1_000_000, 10**12], keys)
            + join_cells(n_fixed, n_strings, ["int64", "string", "two_int64"], ["unique", "dups", "build1k", "match1pct"],
                         ["inner", "left", "semi"])
            + sort_cells(n_fixed, n_strings, ["int64", "float64", "string", "string_int"])
            + decimal_cells(n_fixed))


def run_cell(cell: Cell, repeat: int) -> dict[str, float]:
    """Best of ``repeat`` rounds per contender; every round runs each contender once, in turn, so a
    burst of load on this shared machine falls on all of them rather than on one's block of runs."""
    import duckdb
    import polars as pl

    tables = cell.tables()
    con = duckdb.connect()
    for name, t in tables.items():
        con.register(name, t)
    frames = {name: pl.from_arrow(t) for name, t in tables.items()}
    contenders: dict[str, Callable[[], object]] = {
        "cylon": lambda: cell.ours(tables), "duckdb": lambda: con.sql(cell.sql).to_arrow_table()}
    out: dict[str, float] = {"rows": sum(t.num_rows for t in tables.values())}
    for peer, fn, arg in (("polars", cell.with_polars, frames), ("pyarrow", cell.with_pyarrow, tables)):
        if fn is None:
            out[peer] = float("nan")
            continue
        try:
            fn(arg)
            contenders[peer] = lambda fn=fn, arg=arg: fn(arg)
        except Exception as err:  # a peer without this shape (e.g. pyarrow on a type) is left out
            print(f"  {cell.name}: {peer} failed: {str(err)[:100]}", file=sys.stderr)
            out[peer] = float("nan")
    best = {name: float("inf") for name in contenders}
    for _ in range(repeat):
        for name, fn in contenders.items():
            best[name] = min(best[name], best_of(fn, 1))
    con.close()
    return {**out, **best}


def geomean(xs: list[float]) -> float:
    xs = [x for x in xs if x == x and x > 0]
    return math.exp(sum(math.log(x) for x in xs) / len(xs)) if xs else float("nan")


def report_matrix(results: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
    """Prints the matrix with ratios; returns geometric means of the ratios (overall and per family)."""
    print(f"\n{'cell':44s} {'cylon':>8s} {'duckdb':>8s} {'polars':>8s} {'pyarrow':>8s}  "
          f"{'/duck':>6s} {'/pola':>6s} {'/pyar':>6s} {'Mrows/s':>8s}")
    for name, r in results.items():
        ratios = [r["cylon"] / r[p] if r[p] == r[p] else float("nan") for p in ("duckdb", "polars", "pyarrow")]
        flag = " <-- slower than DuckDB" if ratios[0] > 1.0 else ""
        print(f"{name:44s} {r['cylon']:8.3f} {r['duckdb']:8.3f} {r['polars']:8.3f} {r['pyarrow']:8.3f}  "
              + " ".join(f"{x:6.2f}" for x in ratios) + f" {r['rows'] / r['cylon'] / 1e6:8.1f}{flag}")
    means: dict[str, dict[str, float]] = {}
    families = ["all"] + sorted({n.split("/")[0] for n in results})
    for fam in families:
        cells = [r for n, r in results.items() if fam == "all" or n.startswith(fam + "/")]
        means[fam] = {p: geomean([r["cylon"] / r[p] for r in cells]) for p in ("duckdb", "polars", "pyarrow")}
        means[fam]["cells"] = len(cells)
        print(f"geometric mean of ours/peer, {fam} ({len(cells)} cells): "
              + "  ".join(f"{p} {means[fam][p]:.2f}" for p in ("duckdb", "polars", "pyarrow")))
    return means


def write_svg(results: dict[str, dict[str, float]], path: str) -> None:
    """Ratios ours/DuckDB and ours/Polars per cell as horizontal bars on a log axis (no plotting library)."""
    names = list(results)
    h, left, width = 14, 300, 520
    lo, hi = math.log(0.05), math.log(20.0)

    def x(ratio: float) -> float:
        return left + (min(max(math.log(ratio), lo), hi) - lo) / (hi - lo) * width

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{left + width + 20}" height="{h * len(names) + 60}" '
           f'font-family="sans-serif" font-size="10">']
    for tick in (0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 10.0):
        out.append(f'<line x1="{x(tick):.1f}" y1="20" x2="{x(tick):.1f}" y2="{h * len(names) + 25}" '
                   f'stroke="{"#000" if tick == 1.0 else "#ddd"}"/>')
        out.append(f'<text x="{x(tick):.1f}" y="15" text-anchor="middle">{tick:g}x</text>')
    for i, name in enumerate(names):
        r, y = results[name], 25 + i * h
        out.append(f'<text x="{left - 5}" y="{y + 10}" text-anchor="end">{name}</text>')
        for k, (peer, colour) in enumerate((("duckdb", "#d95f02"), ("polars", "#1b9e77"))):
            if r[peer] == r[peer]:
                ratio = r["cylon"] / r[peer]
                x0, x1 = sorted((x(1.0), x(ratio)))
                out.append(f'<rect x="{x0:.1f}" y="{y + 1 + k * 6}" width="{max(x1 - x0, 1):.1f}" height="5" '
                           f'fill="{colour}"/>')
    out.append(f'<text x="{left}" y="{h * len(names) + 45}">ours / DuckDB (orange), ours / Polars (green); '
               f'left of 1x: we are faster</text></svg>')
    with open(path, "w") as f:
        f.write("\n".join(out))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, help="rounds per cell (default: 3, --quick 5)")
    parser.add_argument("--only", choices=["join", "groupby", "sort", "sort_payload", "partition", "memory", "matrix"],
                        action="append")
    parser.add_argument("--quick", action="store_true", help="the small matrix only (1M / 300k rows)")
    parser.add_argument("--cells", help="only matrix cells whose name matches this regex")
    parser.add_argument("--strings", type=int, help="rows of string cells (default: 3M, --quick 300k)")
    parser.add_argument("--json", help="write the figures to this file")
    parser.add_argument("--svg", help="write the matrix ratios as an SVG bar chart")
    args = parser.parse_args()
    args.repeat = args.repeat or (5 if args.quick else 3)
    if args.quick:
        args.rows = min(args.rows, 1_000_000)
    which = args.only or (["matrix"] if args.quick else
                          ["join", "groupby", "sort", "sort_payload", "partition", "memory", "matrix"])
    results: dict[str, dict[str, float]] = {"meta": {"rows": args.rows, "threads": kernel._native._ext.num_threads(),
                                                   "cpus": os.cpu_count() or 0}}
    benches = {"join": bench_join, "groupby": bench_groupby, "sort": bench_sort, "sort_payload": bench_sort_payload,
               "partition": bench_partition}
    for name in which:
        if name in ("memory", "matrix"):
            continue
        print(f"running {name} ...", file=sys.stderr)
        results[name] = benches[name](args.rows, args.repeat)
    if "memory" in which:
        results["join_memory"] = join_peak_memory(args.rows)
    if "matrix" in which:
        n_strings = args.strings or (300_000 if args.quick else 3_000_000)
        cells = [c for c in matrix_cells(args.quick, args.rows, n_strings) if not args.cells or re.search(args.cells, c.name)]
        results["matrix"] = {}
        for i, cell in enumerate(cells):
            print(f"[{i + 1}/{len(cells)}] {cell.name}", file=sys.stderr)
            results["matrix"][cell.name] = run_cell(cell, args.repeat)
        _cache.clear()

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
    if results.get("matrix"):
        results["matrix_geomean"] = report_matrix(results["matrix"])
        if args.svg:
            write_svg(results["matrix"], args.svg)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
