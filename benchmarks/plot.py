"""Plot benchmarks/kernel.py's JSON output as grouped bars (docs/benchmarks.png).

    python benchmarks/kernel.py --json benchmarks/out/kernel.json
    python benchmarks/plot.py benchmarks/out/kernel.json docs/benchmarks.png
"""
from __future__ import annotations

import json
import sys


def main() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    src, dst = sys.argv[1], sys.argv[2]
    with open(src) as f:
        results = json.load(f)
    workloads = [w for w in ("join", "groupby", "sort", "sort_payload") if w in results]
    engines = ["cylon", "duckdb", "pyarrow", "polars"]
    fig, ax = plt.subplots(figsize=(9, 4))
    width = 0.2
    for k, engine in enumerate(engines):
        xs = [i + (k - 1.5) * width for i in range(len(workloads))]
        ys = [results[w][engine] for w in workloads]
        bars = ax.bar(xs, ys, width, label=engine)
        ax.bar_label(bars, fmt="%.2f", fontsize=7)
    ax.set_xticks(range(len(workloads)))
    meta = results.get("meta", {})
    ax.set_xticklabels([f"{w}\n{meta.get('rows', 0) / 1e6:.0f}M rows" for w in workloads])
    ax.set_ylabel("seconds (best of runs, lower is better)")
    ax.set_title(f"Kernel vs single-node engines ({meta.get('cpus', '?')} cores, one process)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(dst, dpi=120)


if __name__ == "__main__":
    main()
